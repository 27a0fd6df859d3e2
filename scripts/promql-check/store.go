package main

// An in-memory, read-only storage.Queryable: enough for Prometheus's PromQL engine to evaluate
// queries over a handful of scrapes, without the TSDB (which alone pulls in ~400 packages).

import (
	"context"
	"slices"
	"sort"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// floatSample is one float sample (ms timestamp); it implements chunks.Sample.
type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                      { return s.t }
func (s floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                    { return s.f }
func (s floatSample) H() *histogram.Histogram       { return nil }
func (s floatSample) FH() *histogram.FloatHistogram { return nil }
func (s floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample           { return s }

// memSeries is one series: its labels and time-ordered samples.
type memSeries struct {
	lset    labels.Labels
	samples []chunks.Sample
}

// memStorage holds every series sorted by labels, as the engine expects from a sorted Select.
type memStorage struct {
	series []*memSeries
}

func newMemStorage(byKey map[string]*memSeries) *memStorage {
	out := make([]*memSeries, 0, len(byKey))
	for _, s := range byKey {
		sort.Slice(s.samples, func(i, j int) bool { return s.samples[i].T() < s.samples[j].T() })
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].lset, out[j].lset) < 0 })
	return &memStorage{series: out}
}

func (m *memStorage) Querier(mint, maxt int64) (storage.Querier, error) {
	return &memQuerier{store: m, mint: mint, maxt: maxt}, nil
}

type memQuerier struct {
	store      *memStorage
	mint, maxt int64
}

func matchesAll(lset labels.Labels, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

// inRange keeps the samples within [mint, maxt], as a real querier scoped to that range does.
func (q *memQuerier) inRange(s []chunks.Sample) []chunks.Sample {
	lo := sort.Search(len(s), func(i int) bool { return s[i].T() >= q.mint })
	hi := sort.Search(len(s), func(i int) bool { return s[i].T() > q.maxt })
	return s[lo:hi]
}

func (q *memQuerier) Select(_ context.Context, _ bool, _ *storage.SelectHints,
	matchers ...*labels.Matcher) storage.SeriesSet {
	var found []storage.Series
	for _, s := range q.store.series {
		if samples := q.inRange(s.samples); len(samples) > 0 && matchesAll(s.lset, matchers) {
			found = append(found, storage.NewListSeries(s.lset, samples))
		}
	}
	return &sliceSeriesSet{series: found, i: -1}
}

func (q *memQuerier) LabelValues(_ context.Context, name string, _ *storage.LabelHints,
	matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]struct{}{}
	for _, s := range q.store.series {
		if v := s.lset.Get(name); v != "" && matchesAll(s.lset, matchers) {
			seen[v] = struct{}{}
		}
	}
	return sortedKeys(seen), nil, nil
}

func (q *memQuerier) LabelNames(_ context.Context, _ *storage.LabelHints,
	matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]struct{}{}
	for _, s := range q.store.series {
		if matchesAll(s.lset, matchers) {
			s.lset.Range(func(l labels.Label) { seen[l.Name] = struct{}{} })
		}
	}
	return sortedKeys(seen), nil, nil
}

func (q *memQuerier) Close() error { return nil }

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// sliceSeriesSet walks a slice of series (already sorted by labels).
type sliceSeriesSet struct {
	series []storage.Series
	i      int
}

func (s *sliceSeriesSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *sliceSeriesSet) At() storage.Series                { return s.series[s.i] }
func (s *sliceSeriesSet) Err() error                        { return nil }
func (s *sliceSeriesSet) Warnings() annotations.Annotations { return nil }
