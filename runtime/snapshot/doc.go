// Package snapshot owns the snapshot that routerd serves: it reads the file
// into private read-only memory (so a file rewritten in place cannot change
// or fault the snapshot being served), validates it fully with format.Open, checks whether the inputs it
// was compiled from have changed, falls back to an in-memory build when the
// file cannot be used, and publishes the result to request handlers through a
// reference-counted Handle that can be swapped atomically while they run.
//
// The life of a snapshot:
//
//	Load (or Reload) -> validate -> staleness check -> OnPublish -> publish
//	Acquire / Release by every request while it is current
//	Reload or Close retires it -> unmapped when the last holder releases it
//
// A Manager is the only entry point. Load builds one and publishes the first
// snapshot; Acquire returns the current Handle with its count raised and
// Handle.Release lowers it; Reload re-reads the file and swaps, keeping the
// old snapshot on any failure; Info describes the current state for the
// health and admin endpoints; Close retires the current snapshot.
//
// Acquire and Release do not allocate and take no lock. See README.md in this
// directory for the reference-count design and its known failure modes.
package snapshot
