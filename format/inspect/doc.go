// Package inspect holds the snapshot tools behind "routerc dump", "routerc
// diff" and "routerc inspect". They only read a validated *format.Snapshot:
// Dump renders all of it as stable text (keys masked), Diff compares two,
// Summary gives the short account of Diff that a CI log or a pull request
// needs (channels, models, prices, settings),
// Inspect gives an overview with the state of every recorded source on disk,
// judged by format/sources exactly as routerd judges it.
//
// The package imports only format and its subpackages, never compiler/ or
// runtime/: a snapshot can be inspected without the pipeline that built it.
package inspect
