import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';

import type { Clock } from '../clock.ts';
import { StratumError } from '../errors.ts';
import type { SecretInput, StoredSecret } from './channel.ts';

/** A secret that could not be read or decrypted. `retryable` is false when only a configuration change can help. */
export class SecretUnavailableError extends StratumError {
  override readonly code = 'SECRET_UNAVAILABLE';

  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The 32-byte key that encrypts inline secrets. */
export interface SecretKeyProvider {
  key(): Promise<Buffer>;
}

/** Derives the AES key from key material of any length, so a generated Secrets Manager password works as well as 32 random bytes. */
function deriveKey(material: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), 'stratum alert secrets v1', 32));
}

const KEY_FILE = 'alert-secrets.key';

/**
 * Reads the local key file `<dataDir>/alert-secrets.key`, creating it with 32 random bytes and
 * mode 0600 on first use. Losing the file makes every inline secret unreadable.
 */
export function localKeyFile(dataDir: string): SecretKeyProvider {
  let cached: Promise<Buffer> | undefined;
  const path = join(dataDir, KEY_FILE);

  const load = async (): Promise<Buffer> => {
    await mkdir(dataDir, { recursive: true });
    try {
      // 'wx' fails when the file exists, so two processes starting together keep the first key.
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(randomBytes(32));
      } finally {
        await handle.close();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    return deriveKey(await readFile(path));
  };

  return {
    key: () => {
      cached ??= load().catch((error) => {
        cached = undefined;
        throw error;
      });
      return cached;
    },
  };
}

/** Reads the key material from a Secrets Manager secret (its string or binary value), once per process. */
export function secretsManagerKey(secretId: string, client: SecretsManagerClient): SecretKeyProvider {
  let cached: Promise<Buffer> | undefined;
  return {
    key: () => {
      cached ??= client.send(new GetSecretValueCommand({ SecretId: secretId })).then(
        (response) => {
          const material = response.SecretBinary ? Buffer.from(response.SecretBinary) : Buffer.from(response.SecretString ?? '', 'utf8');
          if (material.length < 32) throw new SecretUnavailableError(`The alert encryption key secret ${secretId} contains ${material.length} bytes; store at least 32`, false);
          return deriveKey(material);
        },
        (error: unknown) => {
          cached = undefined;
          throw error;
        },
      );
      return cached;
    },
  };
}

/**
 * AES-256-GCM encryption of inline secrets. The associated data binds a ciphertext to its tenant
 * and channel, so a ciphertext copied into another channel's item does not decrypt.
 */
export class SecretBox {
  constructor(private readonly provider: SecretKeyProvider) {}

  async encrypt(plaintext: string, context: string): Promise<string> {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', await this.provider.key(), iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), data.toString('base64')].join('.');
  }

  async decrypt(ciphertext: string, context: string): Promise<string> {
    const [version, iv, tag, data] = ciphertext.split('.');
    if (version !== 'v1' || !iv || !tag || data === undefined) throw new SecretUnavailableError('The stored secret has an unknown format; set the secret again', false);

    try {
      const decipher = createDecipheriv('aes-256-gcm', await this.provider.key(), Buffer.from(iv, 'base64'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8');
    } catch (error) {
      if (error instanceof SecretUnavailableError) throw error;
      throw new SecretUnavailableError('The stored secret does not decrypt with the current key; the key file or key secret changed, so set the secret again', false, { cause: error });
    }
  }
}

/** Returns the additional authenticated data of a channel's inline secret. */
export function secretContext(tenant: string, channelId: string): string {
  return `${tenant}/${channelId}`;
}

/** Turns API input into the stored form, encrypting an inline value. */
export async function storeSecret(input: SecretInput, box: SecretBox, context: string): Promise<StoredSecret> {
  if (input.value !== undefined) return { source: 'INLINE', ciphertext: await box.encrypt(input.value, context) };
  if (input.secretsManagerId !== undefined) return { source: 'SECRETS_MANAGER', secretId: input.secretsManagerId, ...(input.secretsManagerJsonKey ? { jsonKey: input.secretsManagerJsonKey } : {}) };
  return { source: 'SSM', parameterName: input.ssmParameter! };
}

/** Returns the reference a client may see: the secret's id or parameter name, never an inline value or its ciphertext. */
export function secretReference(secret: StoredSecret): string | undefined {
  if (secret.source === 'SECRETS_MANAGER') return secret.jsonKey ? `${secret.secretId}#${secret.jsonKey}` : secret.secretId;
  if (secret.source === 'SSM') return secret.parameterName;
  return undefined;
}

/** AWS error names after which a retry cannot succeed without a configuration change. */
const PERMANENT_AWS_ERRORS = new Set(['ResourceNotFoundException', 'ParameterNotFound', 'AccessDeniedException', 'InvalidParameterException', 'InvalidRequestException', 'DecryptionFailure', 'InvalidKeyId', 'ParameterVersionNotFound']);

export interface SecretResolverOptions {
  box: SecretBox;
  secretsManager: () => SecretsManagerClient;
  ssm: () => SSMClient;
  clock: Clock;
  /** How long a referenced secret is reused before it is read again; 5 minutes unless set. */
  cacheMs?: number;
}

/**
 * Resolves stored secrets to their values at delivery time. Referenced secrets are cached for
 * `cacheMs`, so a rotated secret is picked up within that time; inline secrets are decrypted each time.
 */
export class SecretResolver {
  private readonly cache = new Map<string, { value: string; expiresAt: number }>();
  private readonly cacheMs: number;

  constructor(private readonly options: SecretResolverOptions) {
    this.cacheMs = options.cacheMs ?? 5 * 60_000;
  }

  async resolve(secret: StoredSecret, context: string): Promise<string> {
    if (secret.source === 'INLINE') return this.options.box.decrypt(secret.ciphertext, context);

    const cacheKey = secret.source === 'SSM' ? `ssm:${secret.parameterName}` : `sm:${secret.secretId}#${secret.jsonKey ?? ''}`;
    const now = this.options.clock.now().getTime();
    const hit = this.cache.get(cacheKey);
    if (hit && hit.expiresAt > now) return hit.value;

    const value = secret.source === 'SSM' ? await this.readParameter(secret.parameterName) : await this.readSecret(secret.secretId, secret.jsonKey);
    this.cache.set(cacheKey, { value, expiresAt: now + this.cacheMs });
    return value;
  }

  private async readSecret(secretId: string, jsonKey: string | undefined): Promise<string> {
    let text: string | undefined;
    try {
      const response = await this.options.secretsManager().send(new GetSecretValueCommand({ SecretId: secretId }));
      text = response.SecretString;
    } catch (error) {
      throw awsFailure(`Secrets Manager secret ${secretId}`, error);
    }
    if (!text) throw new SecretUnavailableError(`Secrets Manager secret ${secretId} has no string value; store the token as SecretString`, false);
    if (!jsonKey) return text;

    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const value = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>)[jsonKey] : undefined;
    if (typeof value !== 'string' || value === '') throw new SecretUnavailableError(`Secrets Manager secret ${secretId} has no string key ${JSON.stringify(jsonKey)} in its JSON value`, false);
    return value;
  }

  private async readParameter(name: string): Promise<string> {
    try {
      const response = await this.options.ssm().send(new GetParameterCommand({ Name: name, WithDecryption: true }));
      const value = response.Parameter?.Value;
      if (!value) throw new SecretUnavailableError(`SSM parameter ${name} has no value`, false);
      return value;
    } catch (error) {
      if (error instanceof SecretUnavailableError) throw error;
      throw awsFailure(`SSM parameter ${name}`, error);
    }
  }
}

function awsFailure(what: string, error: unknown): SecretUnavailableError {
  const name = (error as { name?: string }).name ?? 'Error';
  const permanent = PERMANENT_AWS_ERRORS.has(name);
  return new SecretUnavailableError(`Reading ${what} failed with ${name}${permanent ? '; check the reference and the function role' : ''}`, !permanent, { cause: error });
}
