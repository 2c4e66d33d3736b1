export const handler = async () => { throw new Error('replaced by the real handler'); };
