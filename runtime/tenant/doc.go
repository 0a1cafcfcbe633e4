// Package tenant owns the client keys of the API at run time: which key a
// presented token is (Keys.Lookup: SHA-256 of the token, then a constant-time
// compare), whether the key may ask for a model (Key.Allows), and the live
// counters behind its limits (Counters: requests and tokens per minute,
// requests in flight, spend per UTC day and month).
//
// Keys are built per snapshot from its clients section (format 1.2); the
// counters belong to the server and outlive snapshot swaps, keyed by the
// key's name. Counters is an interface so that a shared implementation (for
// several routerd processes behind one balancer, e.g. on Redis) can replace
// Local, the in-process one. Every method takes the time from the caller,
// so tests drive the windows with a fake clock.
//
// Windows and their bounds (see docs/operations.md, "Client keys and
// limits"):
//
//   - requests per minute and tokens per minute are token buckets holding
//     one minute of allowance and refilling continuously: a key may burst up
//     to its whole per-minute limit, then gets rate/60 per second;
//   - tokens are counted at admission from the request's estimated input
//     tokens and corrected by Charge with the real prompt+completion tokens
//     once the answer's usage is known (a request that ends without usage
//     gives its estimate back);
//   - a request larger than the whole per-minute token allowance passes
//     only when the bucket is full, and leaves it in debt;
//   - concurrent requests are counted from admission to the end of the
//     answer, a stream's relay included;
//   - budgets are USD per UTC calendar day and per UTC calendar month,
//     charged from the real cost; a request is refused once the spend has
//     reached the budget, so requests in flight at that moment may overshoot
//     it by their own cost.
package tenant
