package cluster

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Channel day counts (daily_limit) across replicas. Each flush adds what
// this replica's live state counted since the last flush (Live.ChannelDays
// less what was sent) to the day's Redis key of the channel and moves the
// live count by the difference to the fleet's total
// (Live.AddChannelDay), so the route filter compares the fleet's count
// plus the attempts made here since. The bound is the one of Counter; a
// channel is flushed from this replica's first attempt on it today, so
// that attempt and those of the next flush interval are judged on this
// replica's count alone.

// chanDay is what the flushes know of one channel's day.
type chanDay struct {
	day   uint64 // UTC day number
	sent  uint64 // live count already accounted for in Redis (after the last move)
	floor uint64 // seeded count of the day (SeedChannelDay)
}

type chanArg struct {
	id    string
	day   uint64
	local uint64 // live count read before the flush
	cmd   *redis.Cmd
}

func dayNumber(t time.Time) uint64 { return uint64(t.UnixNano() / int64(24*time.Hour)) }

// SeedChannelDay records today's request counts of channels (from the
// usage ledger at start, after Live.SeedChannelDay got the same figures)
// as floors of the fleet's counts: raised to, never added.
func (n *Node) SeedChannelDay(counts map[string]int) {
	day := dayNumber(n.o.Now())
	n.chanMu.Lock()
	defer n.chanMu.Unlock()
	for id, c := range counts {
		v := uint64(max(c, 0))
		n.chanDays[id] = &chanDay{day: day, sent: v, floor: v}
	}
}

func (n *Node) chanKey(id string, day uint64) string {
	return n.o.Prefix + ":chday:" + id + ":" + strconv.FormatUint(day, 10)
}

// channelDayArgs queues on pipe one script per channel used here today.
func (n *Node) channelDayArgs(ctx context.Context, pipe redis.Pipeliner, now time.Time) []chanArg {
	day := dayNumber(now)
	var out []chanArg
	n.chanMu.Lock()
	defer n.chanMu.Unlock()
	n.o.Live.ChannelDays(func(id string, local uint64) {
		if local == 0 {
			return // not used here today: nothing to add, nothing to filter
		}
		cd := n.chanDays[id]
		if cd == nil || cd.day != day {
			cd = &chanDay{day: day}
			n.chanDays[id] = cd
		}
		d := int64(local) - int64(cd.sent)
		a := chanArg{id: id, day: day, local: local}
		a.cmd = counterScript.EvalSha(ctx, pipe, []string{n.chanKey(id, day)}, d, cd.floor, (48 * time.Hour).Milliseconds())
		out = append(out, a)
	})
	return out
}

// applyChannelDays moves each channel's live count to the fleet's total
// read back (plus what was counted here during the flush).
func (n *Node) applyChannelDays(args []chanArg) {
	n.chanMu.Lock()
	defer n.chanMu.Unlock()
	for _, a := range args {
		total, err := a.cmd.Int64()
		cd := n.chanDays[a.id]
		if err != nil || cd == nil || cd.day != a.day || total < 0 {
			continue // not counted: sent unchanged, the next flush adds it
		}
		if n.o.Live.AddChannelDay(a.id, a.day, total-int64(a.local)) {
			cd.sent = uint64(total)
		} else {
			cd.sent = a.local // the day ended meanwhile here; counted in Redis already
		}
	}
}
