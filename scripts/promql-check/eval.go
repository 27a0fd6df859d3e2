package main

// Evaluating PromQL with Prometheus's own engine over recorded scrapes. The spec (JSON):
//
//	{"lookback_delta": "5m",                       optional, Prometheus's default
//	 "scrapes": [{"time": 0, "text": "<exposition>" | "file": "path",
//	              "target_labels": {"job": "...", "namespace": "..."}}, ...],
//	 "queries": [{"name": "...", "expr": "...", "time": 2700},              instant query
//	             {"name": "...", "expr": "...", "start": 0, "end": 2700, "step": 60}]}  range
//
// Times are Unix seconds. Values are strings as in Prometheus's HTTP API ("NaN", "+Inf").

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// Query is an instant query (Time) or, when Step > 0, a range query (Start, End, Step).
type Query struct {
	Name  string  `json:"name"`
	Expr  string  `json:"expr"`
	Time  float64 `json:"time"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Step  float64 `json:"step"`
}

// EvalSpec is the whole input of the eval command.
type EvalSpec struct {
	LookbackDelta string   `json:"lookback_delta"`
	Scrapes       []Scrape `json:"scrapes"`
	Queries       []Query  `json:"queries"`
}

// Point is one (time in seconds, value) pair of a range result.
type Point [2]any

// SeriesResult is one output series: its labels and either Value (instant) or Values (range).
type SeriesResult struct {
	Labels map[string]string `json:"labels"`
	Value  string            `json:"value,omitempty"`
	Values []Point           `json:"values,omitempty"`
}

// QueryResult is one query's outcome.
type QueryResult struct {
	Name   string         `json:"name"`
	Expr   string         `json:"expr"`
	Type   string         `json:"type,omitempty"`
	Series []SeriesResult `json:"series"`
	Error  string         `json:"error,omitempty"`
}

func formatValue(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func seconds(s float64) time.Time { return time.UnixMilli(millis(s)).UTC() }

func labelMap(l labels.Labels) map[string]string {
	m := l.Map()
	if m == nil {
		m = map[string]string{}
	}
	return m
}

func toResult(r *promql.Result) ([]SeriesResult, string) {
	out := []SeriesResult{}
	switch v := r.Value.(type) {
	case promql.Vector:
		for _, s := range v {
			out = append(out, SeriesResult{Labels: labelMap(s.Metric), Value: formatValue(s.F)})
		}
		return out, "vector"
	case promql.Scalar:
		return append(out, SeriesResult{Labels: map[string]string{}, Value: formatValue(v.V)}), "scalar"
	case promql.Matrix:
		for _, s := range v {
			sr := SeriesResult{Labels: labelMap(s.Metric), Values: []Point{}}
			for _, p := range s.Floats {
				sr.Values = append(sr.Values, Point{float64(p.T) / 1000, formatValue(p.F)})
			}
			out = append(out, sr)
		}
		return out, "matrix"
	case promql.String:
		return append(out, SeriesResult{Labels: map[string]string{}, Value: v.V}), "string"
	}
	return out, fmt.Sprintf("%T", r.Value)
}

func newEngine(lookback time.Duration) *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{
		MaxSamples:               50_000_000,
		Timeout:                  time.Minute,
		LookbackDelta:            lookback,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		Parser:                   promqlParser,
	})
}

func runQuery(ctx context.Context, engine *promql.Engine, store *memStorage, q Query) QueryResult {
	res := QueryResult{Name: q.Name, Expr: q.Expr, Series: []SeriesResult{}}
	var query promql.Query
	var err error
	if q.Step > 0 {
		step := time.Duration(q.Step * float64(time.Second))
		query, err = engine.NewRangeQuery(ctx, store, nil, q.Expr, seconds(q.Start), seconds(q.End), step)
	} else {
		query, err = engine.NewInstantQuery(ctx, store, nil, q.Expr, seconds(q.Time))
	}
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer query.Close()
	r := query.Exec(ctx)
	if r.Err != nil {
		res.Error = r.Err.Error()
		return res
	}
	res.Series, res.Type = toResult(r)
	return res
}

func cmdEval(args []string) error {
	path := "-"
	if len(args) > 1 {
		return fmt.Errorf("eval: one spec file (or - for stdin), got %d arguments", len(args))
	}
	if len(args) == 1 {
		path = args[0]
	}
	raw, err := readInput(path)
	if err != nil {
		return err
	}
	var spec EvalSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("eval spec %s: %w", path, err)
	}
	lookback := 5 * time.Minute
	if spec.LookbackDelta != "" {
		d, err := model.ParseDuration(spec.LookbackDelta)
		if err != nil {
			return fmt.Errorf("eval spec: lookback_delta: %w", err)
		}
		lookback = time.Duration(d)
	}
	store, nSamples, err := loadScrapes(spec.Scrapes)
	if err != nil {
		return err
	}
	engine := newEngine(lookback)
	ctx := context.Background()
	results := make([]QueryResult, len(spec.Queries))
	failed := false
	for i, q := range spec.Queries {
		results[i] = runQuery(ctx, engine, store, q)
		if results[i].Error != "" {
			failed = true
			fmt.Fprintf(os.Stderr, "%q: %s\n  in: %s\n", q.Name, results[i].Error, q.Expr)
		}
	}
	out := map[string]any{"series_loaded": len(store.series), "samples_loaded": nSamples,
		"results": results}
	if err := writeJSON(out); err != nil {
		return err
	}
	if failed {
		return errCheckFailed
	}
	return nil
}
