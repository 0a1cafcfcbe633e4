package tasks

import (
	"sync"
	"time"
)

// fakeClock is a manual clock: Advance fires the timers that are due.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	made   chan struct{} // one value per NewTimer (buffered)
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), made: make(chan struct{}, 1024)}
}

type fakeTimer struct {
	clk     *fakeClock
	c       chan time.Time
	at      time.Time
	stopped bool
	fired   bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	t.stopped = true
	return !t.fired
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	t := &fakeTimer{clk: f, c: make(chan time.Time, 1), at: f.now.Add(d)}
	f.timers = append(f.timers, t)
	f.mu.Unlock()
	f.made <- struct{}{}
	return t
}

// Advance moves the clock and fires every timer due.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	keep := f.timers[:0]
	for _, t := range f.timers {
		if t.stopped {
			continue
		}
		if !t.at.After(f.now) {
			t.fired = true
			t.c <- f.now
			continue
		}
		keep = append(keep, t)
	}
	f.timers = keep
	f.mu.Unlock()
}
