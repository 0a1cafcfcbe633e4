// Package tasks runs routerd's background tasks and its refresh cycle.
//
// The snapshot's settings name the tasks (tasks.model_discovery,
// tasks.api_key_validation, tasks.health_check: enabled, interval,
// run_on_startup). A Runner runs each enabled one off the request path on
// its interval with jitter, never two runs of one task at once and at most
// MaxConcurrent runs in all; it re-reads the settings when a new snapshot is
// published (SettingsChanged) and drains its runs at Stop.
//
// The work itself is handed in as functions, because runtime/ may not import
// compiler/: a task is a Func that says whether it changed an input (a cache
// file), and the refresh cycle is Build (compile the configuration and caches
// in process), format.Open (validate), Write (replace the snapshot file
// atomically, so that the next start maps it) and Reload (publish through the
// snapshot manager, the path SIGHUP takes). A task that reports a change
// starts the cycle; Refresh runs it on demand (POST /v1/admin/refresh),
// unless no task changed a cache and Current says the snapshot serving is
// up to date with its inputs: then it builds and publishes nothing (result
// "unchanged"). A failure at any step keeps the current snapshot serving
// and is recorded in Status, the log and the metrics. cmd/routerd runs the
// work of the tasks and of Build in a child process at the lowest CPU
// priority.
//
// Allowed, when set, is asked before every scheduled run: routerd with
// shared state (runtime/cluster) lets only the leader replica run them.
//
// Time comes from a Clock, so tests drive the schedule with a fake one.
package tasks
