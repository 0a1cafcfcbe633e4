package cache

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cespare/xxhash/v2"

	"smartrouter/compiler/diag"
	"smartrouter/format"
)

// File names, relative to the cache directory (or config/pricing for the
// unified pricing files).
const (
	DiscoveryFile        = "discovered_models.json"
	DiscoveryFileAlt     = "model_discovery_cache.json"
	KeyValidationFile    = "api_key_validation.json"
	KeyValidationFileAlt = "api_key_validation_cache.json"
	PricingCacheFile     = "pricing_cache.json"
	ModelPricingFile     = "model_pricing.json"
	BasePricingFile      = "base_pricing_unified.json"
	unifiedSuffix        = "_unified.json"
)

// hashReader hashes and counts the bytes read through it, so that a file is
// read once for both parsing and its fingerprint.
type hashReader struct {
	r io.Reader
	h *xxhash.Digest
	n int64
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		_, _ = h.h.Write(p[:n])
		h.n += int64(n)
	}
	return n, err
}

// decodeFile opens path, streams it through run and returns its Source
// (path as given, size and xxhash64 of the bytes read, modification time).
func decodeFile(path string, w *diag.Warnings, run func(d *decoder) error) (format.Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return format.Source{}, &diag.Error{Pos: diag.Pos{File: path}, Msg: "cannot open the file", Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return format.Source{}, &diag.Error{Pos: diag.Pos{File: path}, Msg: "cannot stat the file", Err: err}
	}
	if st.IsDir() {
		return format.Source{}, diag.Errorf(diag.Pos{File: path}, "is a directory, not a JSON file; remove it or point the compiler at the right cache directory")
	}
	hr := &hashReader{r: f, h: xxhash.New()}
	if err := decodeStream(hr, path, w, run); err != nil {
		return format.Source{}, err
	}
	return format.Source{Path: path, Size: hr.n, ModTime: st.ModTime().UnixNano(), Hash: hr.h.Sum64()}, nil
}

// decodeStream runs a reader over a whole JSON document.
func decodeStream(r io.Reader, name string, w *diag.Warnings, run func(d *decoder) error) error {
	d := newDecoder(r, name, w)
	if err := d.start(); err != nil {
		return err
	}
	if err := run(d); err != nil {
		return err
	}
	return d.finish()
}

// topObject opens the top-level object of a file; any other kind is an
// error (the whole file is of the wrong shape).
func (d *decoder) topObject(what string) error {
	k, err := d.peekKind()
	if err != nil {
		return err
	}
	if k != kObject {
		return d.fail(d.offset(), "the file holds %s; %s must be a JSON object", kindName(k), what)
	}
	d.openObject()
	return nil
}

// exists reports whether path exists (a directory counts: reading it then
// gives a clear error).
func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, &diag.Error{Pos: diag.Pos{File: path}, Msg: "cannot stat the file", Err: err}
}

// pickFile returns the preferred of two names in dir that exists, warning
// when both do; "" when neither does.
func pickFile(dir, preferred, alt string, w *diag.Warnings) (string, error) {
	p, a := filepath.Join(dir, preferred), filepath.Join(dir, alt)
	pe, err := exists(p)
	if err != nil {
		return "", err
	}
	ae, err := exists(a)
	if err != nil {
		return "", err
	}
	switch {
	case pe && ae:
		if w != nil {
			w.Add(diag.Pos{File: a}, GroupFileChoice, "both %s and %s exist; reading %s and ignoring this one (delete the stale file)", preferred, alt, preferred)
		}
		return p, nil
	case pe:
		return p, nil
	case ae:
		return a, nil
	}
	return "", nil
}

// FindDiscovery returns the discovery cache in cacheDir: discovered_models.json,
// else model_discovery_cache.json. When both exist the first wins and w gets a
// warning. It returns "" when there is none.
func FindDiscovery(cacheDir string, w *diag.Warnings) (string, error) {
	return pickFile(cacheDir, DiscoveryFile, DiscoveryFileAlt, w)
}

// FindKeyValidation returns the key-validation cache in cacheDir:
// api_key_validation.json, else api_key_validation_cache.json (first wins,
// with a warning, when both exist); "" when there is none.
func FindKeyValidation(cacheDir string, w *diag.Warnings) (string, error) {
	return pickFile(cacheDir, KeyValidationFile, KeyValidationFileAlt, w)
}

// ProviderPricingFile is one config/pricing/<provider>_unified.json.
type ProviderPricingFile struct {
	Provider string // from the file name
	Path     string
}

// PricingFiles lists the pricing inputs of an installation.
type PricingFiles struct {
	Providers []ProviderPricingFile // <provider>_unified.json, sorted by provider
	Base      string                // base_pricing_unified.json, "" if absent
	Caches    []string              // pricing_cache.json then model_pricing.json, those that exist
}

// FindPricing lists the pricing files: pricingDir is config/pricing, cacheDir
// the cache directory. Either may be "" or missing.
func FindPricing(pricingDir, cacheDir string) (PricingFiles, error) {
	var pf PricingFiles
	if pricingDir != "" {
		ents, err := os.ReadDir(pricingDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return pf, &diag.Error{Pos: diag.Pos{File: pricingDir}, Msg: "cannot list the pricing directory", Err: err}
		}
		for _, e := range ents {
			name := e.Name()
			if !strings.HasSuffix(name, unifiedSuffix) || e.IsDir() {
				continue
			}
			p := filepath.Join(pricingDir, name)
			if name == BasePricingFile {
				pf.Base = p
				continue
			}
			pf.Providers = append(pf.Providers, ProviderPricingFile{Provider: strings.TrimSuffix(name, unifiedSuffix), Path: p})
		}
		sort.Slice(pf.Providers, func(i, j int) bool { return pf.Providers[i].Provider < pf.Providers[j].Provider })
	}
	if cacheDir != "" {
		for _, n := range []string{PricingCacheFile, ModelPricingFile} {
			p := filepath.Join(cacheDir, n)
			ok, err := exists(p)
			if err != nil {
				return pf, err
			}
			if ok {
				pf.Caches = append(pf.Caches, p)
			}
		}
	}
	return pf, nil
}
