/** `envoy.service.auth.v3.Authorization/Check`: Envoy's ext_authz filter in gRPC mode. */
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { CheckAnswer } from '../../policy/check';
import { attributesOfAuthz } from './authz-attributes';
import type { AttributeContext } from './authz-attributes';
import { authzVerdict } from './authz-verdict';
import { checkAttributes, vocabularyOf } from './doors';
import type { DoorDeps } from './doors';
import { throwIfMalformed } from './malformed';
import { toServiceError } from './status';

interface AuthzCheckRequest {
  attributes?: AttributeContext;
}

/** The CheckResponse Envoy reads: `status`, and `ok_response` or `denied_response`. */
export function authzResponse(a: CheckAnswer, extensions: Readonly<Record<string, string>> | undefined): Record<string, unknown> {
  const v = authzVerdict(a, extensions);
  const status = { code: v.code, message: v.message };
  const headers = Object.entries(v.headers).map(([key, value]) => ({ header: { key, value } }));
  if (v.allowed) return { status, ok_response: headers.length > 0 ? { headers } : {} };
  return { status, denied_response: { status: { code: v.httpStatus }, headers, body: v.message } };
}

/** The unary handler (grpc-js). Bad input → INVALID_ARGUMENT naming the attribute. */
export function authzCheckHandler(deps: DoorDeps) {
  return (call: ServerUnaryCall<AuthzCheckRequest, unknown>, callback: sendUnaryData<unknown>): void => {
    try {
      throwIfMalformed(call.request);
      const ctx = call.request.attributes ?? {};
      const raw = attributesOfAuthz(ctx, vocabularyOf(deps));
      const r = checkAttributes(raw, deps);
      if (r instanceof Promise) {
        r.then(
          (a) => callback(null, authzResponse(a, ctx.context_extensions)),
          (e: unknown) => callback(toServiceError(e)),
        );
        return;
      }
      callback(null, authzResponse(r, ctx.context_extensions));
    } catch (e) {
      callback(toServiceError(e));
    }
  };
}
