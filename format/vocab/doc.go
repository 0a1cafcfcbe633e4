// Package vocab owns the meaning of the words a snapshot is written in, the
// rules that the compiler applies when it writes a snapshot and that the
// runtime applies again when it reads one, so that both sides agree:
//
//   - tags of a (channel, model) pair (PairTags: id tokens, complete
//     segments, aliases, channel and provider tags, free and local), the
//     complete segments a physical model name is matched against (Segments,
//     IsSegment), the parameter count written in an id (ParamsFromID) and the
//     chat, embedding and vision-only exclusions;
//   - the static part of a pair derived from those (DerivePair: tags, the
//     format.Flag* bits and the five static scores), used by the compiler and
//     by every hand-made test snapshot;
//   - local channels: loopback hosts and base URLs (IsLoopbackHost,
//     IsLoopbackURL) and IsLocalChannel;
//   - secrets: the placeholder rule (IsPlaceholder, IsPlaceholderKey), the
//     resolution of a format.Secret through the environment (ResolveSecret,
//     HasKey) and its description without its value (DescribeSecret);
//   - the shape of state.redis_url (CheckRedisURL, RedisURLHasPassword),
//     checked by the compiler on a literal and by routerd on a resolved
//     ${ENV} value; whether usage.path is a PostgreSQL URL (IsPostgresURL).
//
// Every function is pure (the environment is passed in as a lookup
// function) and safe for concurrent use. vocab imports only the standard
// library and smartrouter/format: compiler/... and runtime/... both import
// it, and it imports neither (nor a YAML library).
package vocab
