package main

// Loading text-exposition scrapes the way Prometheus's scrape loop stores them: target labels
// attached (a clashing exposed label becomes exported_<name>, as with honor_labels: false), the
// scrape time as the sample time unless the line carries its own, and a staleness marker for a
// series that a target stops exposing.

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// Scrape is one /metrics body taken at Time (Unix seconds) from a target with TargetLabels.
type Scrape struct {
	Time         float64           `json:"time"`
	Text         string            `json:"text,omitempty"`
	File         string            `json:"file,omitempty"`
	TargetLabels map[string]string `json:"target_labels,omitempty"`
	ContentType  string            `json:"content_type,omitempty"`
}

func millis(seconds float64) int64 { return int64(math.Round(seconds * 1000)) }

func (s Scrape) body() ([]byte, error) {
	if s.File != "" {
		return os.ReadFile(s.File)
	}
	return []byte(s.Text), nil
}

// withTargetLabels applies the target's labels over the exposed ones (honor_labels: false).
func withTargetLabels(exposed labels.Labels, target map[string]string) labels.Labels {
	b := labels.NewBuilder(exposed)
	for name, v := range target {
		if old := exposed.Get(name); old != "" {
			b.Set("exported_"+name, old)
		}
		b.Set(name, v)
	}
	return b.Labels()
}

// parseScrape returns the scrape's samples keyed by their full label set.
func parseScrape(s Scrape) (map[string]*memSeries, error) {
	body, err := s.body()
	if err != nil {
		return nil, err
	}
	contentType := s.ContentType
	if contentType == "" {
		contentType = "text/plain; version=0.0.4"
	}
	p, err := textparse.New(body, contentType, labels.NewSymbolTable(), textparse.ParserOptions{})
	if p == nil {
		return nil, fmt.Errorf("content type %q: %w", contentType, err)
	}
	out := map[string]*memSeries{}
	for {
		entry, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch entry {
		case textparse.EntryHistogram:
			return nil, errors.New("native histograms are not supported; expose classic buckets")
		case textparse.EntrySeries:
		default:
			continue
		}
		_, ts, v := p.Series()
		t := millis(s.Time)
		if ts != nil {
			t = *ts
		}
		var exposed labels.Labels
		p.Labels(&exposed)
		lset := withTargetLabels(exposed, s.TargetLabels)
		key := lset.String()
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("duplicate series %s in one scrape", key)
		}
		out[key] = &memSeries{lset: lset, samples: []chunks.Sample{floatSample{t: t, f: v}}}
	}
}

// targetKey identifies a target by its labels, for staleness tracking.
func targetKey(target map[string]string) string {
	return labels.FromMap(target).String()
}

// loadScrapes merges the scrapes (in time order per target) into one storage.
func loadScrapes(scrapes []Scrape) (*memStorage, int, error) {
	order := make([]int, len(scrapes))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scrapes[order[a]].Time < scrapes[order[b]].Time })
	all := map[string]*memSeries{}
	previous := map[string]map[string]bool{} // target -> series keys in its last scrape
	nSamples := 0
	for _, i := range order {
		s := scrapes[i]
		got, err := parseScrape(s)
		if err != nil {
			return nil, 0, fmt.Errorf("scrape %d (time %g): %w", i, s.Time, err)
		}
		now := map[string]bool{}
		for key, series := range got {
			now[key] = true
			if have, ok := all[key]; ok {
				have.samples = append(have.samples, series.samples...)
			} else {
				all[key] = series
			}
			nSamples++
		}
		target := targetKey(s.TargetLabels)
		for key := range previous[target] {
			if !now[key] {
				stale := floatSample{t: millis(s.Time), f: math.Float64frombits(value.StaleNaN)}
				all[key].samples = append(all[key].samples, stale)
			}
		}
		previous[target] = now
	}
	return newMemStorage(all), nSamples, nil
}
