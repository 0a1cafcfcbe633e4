// Package outcome is the one vocabulary of attempt outcomes shared by the
// provider client (runtime/upstream classifies every attempt into an
// Outcome) and routing (runtime/route records Outcomes in its live state):
// the kinds, the failover rule and the table of base cooldown periods. It
// imports nothing of the project, so both may import it without importing
// each other.
package outcome
