/**
 * How a function answers a CloudEvent (Broker Trigger, PingSource, ApiServerSource), so that Knative
 * retries what may pass later and does not retry what never will.
 *
 * Knative Eventing's dispatcher (knative.dev/eventing v0.50.0, pkg/kncloudevents/retries.go,
 * `SelectiveRetry`) retries a delivery that got no answer, or 5xx, 404, 408, 409 or 429; every other
 * status is final, and a final non-2xx answer sends the event to the dead-letter sink
 * (pkg/kncloudevents/event_dispatcher.go, `send`). The product's problems say whether a retry may help
 * (`retryable`), and the HTTP status a plain request gets is not always the one that tells Knative so:
 * a tenant that exists or is not the product's is a 409, which Knative would retry `delivery.retry` times.
 * So an event's answer is:
 * - a permanent refusal whose status Knative would retry (404, 408, 409, 429 that are not retryable)
 *   becomes 422: not retried, dead-lettered at once, the problem's `type` unchanged;
 * - a retryable problem whose status Knative would not retry (a retryable 4xx) becomes 503;
 * - everything else keeps its status: 400, 401, 403, 413, 415 are final; 5xx are retried (an internal
 *   error included: it may be a passing fault, and the retry budget bounds it).
 * The problem document carries `httpStatus`, the status a plain HTTP request would have got.
 */

/** Statuses Knative's dispatcher retries (`SelectiveRetry`, see above). */
export function knativeRetries(status: number): boolean {
  return status >= 500 || status === 404 || status === 408 || status === 409 || status === 429;
}

/** The status sent for an event whose handling ended in `status`; see the top of this file. */
export function eventAnswerStatus(status: number, retryable: boolean): number {
  if (status < 400) return status;
  if (retryable) return knativeRetries(status) ? status : 503;
  if (status < 500 && knativeRetries(status)) return 422;
  return status;
}

/** What happens next to an event answered with `status`, for the request's log line. */
export function eventRedelivery(status: number): 'delivered' | 'retried' | 'dead-lettered' {
  if (status < 300) return 'delivered';
  return knativeRetries(status) ? 'retried' : 'dead-lettered';
}

/**
 * Whether a CloudEvent came through a Knative Broker: its filter adds `Kn-Namespace` to every request to
 * a subscriber (pkg/broker/filter/filter_handler.go, `send`; the name is pkg/apis/http.go
 * `KnNamespaceHeader`). The filter turns a 2xx answer whose body is neither empty nor a CloudEvent into
 * 502 (`writeResponse`), which the Trigger then retries: such a request gets its success without a body.
 */
export function fromBrokerFilter(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  return headers['kn-namespace'] !== undefined;
}
