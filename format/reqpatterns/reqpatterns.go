// Package reqpatterns is the request patterns file both sides use: routerd
// (runtime/patterns) writes the model strings it was asked for most, with
// their counts, to cache/request_patterns.json; `routerc compile`
// (compiler) reads it to add the top entries to the prewarm lists
// (routing.learned_prewarm). The file is untrusted input: Parse bounds its
// size, its entries and their strings.
package reqpatterns

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Limits and names.
const (
	FileName    = "request_patterns.json" // in the cache folder
	Version     = 1
	MaxFileSize = 1 << 20 // bytes
	MaxEntries  = 1024
	MaxModel    = 200 // bytes of one model string
)

// Entry is one model string. Count over-estimates the requests for it by at
// most Error (a property of the Space-Saving sketch that counted it).
type Entry struct {
	Model string `json:"model"`
	Count uint64 `json:"count"`
	Error uint64 `json:"error"`
}

// File is the file's content: the entries, most requested first.
type File struct {
	Version   int       `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	Total     uint64    `json:"total"` // requests counted, tracked or not
	Models    []Entry   `json:"models"`
}

// Encode returns the file's bytes (indented JSON, final newline).
func Encode(f *File) ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Parse reads a patterns file. Entries with an empty or too long model
// string are dropped, as are entries past MaxEntries; the order is kept.
func Parse(b []byte) (*File, error) {
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("the request patterns file is %d bytes, more than the %d allowed; delete it (routerd writes a new one)", len(b), MaxFileSize)
	}
	var f File
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("the request patterns file is not valid JSON (%v); delete it (routerd writes a new one)", err)
	}
	if f.Version != Version {
		return nil, fmt.Errorf("the request patterns file has version %d, this build reads %d; delete it (routerd writes a new one)", f.Version, Version)
	}
	keep := f.Models[:0]
	for _, e := range f.Models {
		if e.Model != "" && len(e.Model) <= MaxModel && len(keep) < MaxEntries {
			keep = append(keep, e)
		}
	}
	f.Models = keep
	return &f, nil
}
