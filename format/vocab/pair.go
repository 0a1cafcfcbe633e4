package vocab

import "smartrouter/format"

// DerivePair sets the static fields of dst that follow from the pair's id and
// channel (p) and from dst's own ParamsM and ContextLength, which must be set
// first:
//
//   - Tags: PairTags(p);
//   - Flags: FlagFree and FlagLocal from tag rules 6 and 7, FlagEmbedding when
//     IsEmbeddingID, FlagChatExcluded when IsChatExcluded; Flags is
//     overwritten;
//   - ParameterScore, ContextScore, QualityScore (with the quality table;
//     nil means DefaultQuality()), FreeScore and LocalScore.
//
// The compiler derives every pair with it, and hand-made test snapshots call
// it too, so their pairs cannot drift from compiled ones.
func DerivePair(dst *format.Pair, p Pair, quality []QualityRule) {
	tags, free, local := PairTags(p)
	var flags uint32
	if free {
		flags |= format.FlagFree
	}
	if local {
		flags |= format.FlagLocal
	}
	if IsEmbeddingID(p.ID) {
		flags |= format.FlagEmbedding
	}
	if IsChatExcluded(p.ID) {
		flags |= format.FlagChatExcluded
	}
	dst.Tags = tags
	dst.Flags = flags
	dst.ParameterScore = ParameterScore(dst.ParamsM)
	dst.ContextScore = ContextScore(dst.ContextLength)
	dst.QualityScore = QualityScore(p.ID, quality)
	dst.FreeScore = FreeScore(free)
	dst.LocalScore = LocalScore(local, p.ID)
}
