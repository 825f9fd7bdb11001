package observability

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/fleetwave/fleetwave/internal/testenv"
)

// scrapeInterval is how often the metrics endpoint is scraped during the rollout.
const scrapeInterval = 500 * time.Millisecond

// sampleStore holds scraped samples as Prometheus stores them, series by label set with their samples
// in time order, and serves them to the query engine as a storage.Queryable.
type sampleStore struct {
	series map[string]*storedSeries
}

type storedSeries struct {
	labels  labels.Labels
	samples []chunks.Sample
}

// floatSample is a scraped sample, as Prometheus' list series wants it.
type floatSample struct {
	t int64 // milliseconds
	f float64
}

func (s floatSample) T() int64                    { return s.t }
func (floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                  { return s.f }
func (floatSample) H() *histogram.Histogram       { return nil }
func (floatSample) FH() *histogram.FloatHistogram { return nil }
func (floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample         { return s }

func newSampleStore() *sampleStore { return &sampleStore{series: map[string]*storedSeries{}} }

// addScrape parses one response of the metrics endpoint with Prometheus' own text parser and appends
// its samples at the time of the scrape.
func (s *sampleStore) addScrape(body []byte, at time.Time) error {
	p := textparse.NewPromParser(body, labels.NewSymbolTable(), false)
	for {
		entry, err := p.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if entry != textparse.EntrySeries {
			continue
		}
		_, _, v := p.Series()
		var lset labels.Labels
		p.Labels(&lset)
		key := lset.String()
		ser := s.series[key]
		if ser == nil {
			ser = &storedSeries{labels: lset}
			s.series[key] = ser
		}
		ser.samples = append(ser.samples, floatSample{t: at.UnixMilli(), f: v})
	}
}

// metricNames are the names of every series scraped: what the operator exports.
func (s *sampleStore) metricNames() map[string]bool {
	names := map[string]bool{}
	for _, ser := range s.series {
		names[ser.labels.Get(model.MetricNameLabel)] = true
	}
	return names
}

// Querier serves every stored series to the engine; it cuts nothing by time, which the engine does.
func (s *sampleStore) Querier(_, _ int64) (storage.Querier, error) {
	return &storage.MockQuerier{SelectMockFunction: s.selectSeries}, nil
}

func (s *sampleStore) selectSeries(_ bool, _ *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
	var out []storage.Series
	for _, ser := range s.series {
		if matchesAll(ser.labels, matchers) {
			out = append(out, storage.NewListSeries(ser.labels, ser.samples))
		}
	}
	slices.SortFunc(out, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	return &seriesList{series: out, at: -1}
}

func matchesAll(lset labels.Labels, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

// seriesList is a storage.SeriesSet over a slice.
type seriesList struct {
	series []storage.Series
	at     int
}

func (l *seriesList) Next() bool                      { l.at++; return l.at < len(l.series) }
func (l *seriesList) At() storage.Series              { return l.series[l.at] }
func (*seriesList) Err() error                        { return nil }
func (*seriesList) Warnings() annotations.Annotations { return nil }

// scraping scrapes the metrics endpoint every scrapeInterval into a sampleStore until stopped.
type scraping struct {
	addr  string
	done  chan struct{}
	ended chan struct{}

	mu         sync.Mutex
	store      *sampleStore
	scrapes    int
	start, end time.Time
	lastErr    error
}

func startScraping(addr string) *scraping {
	s := &scraping{addr: addr, done: make(chan struct{}), ended: make(chan struct{}), store: newSampleStore()}
	go s.loop()
	return s
}

func (s *scraping) loop() {
	defer close(s.ended)
	tick := time.NewTicker(scrapeInterval)
	defer tick.Stop()
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
			s.scrapeOnce(client)
		}
	}
}

func (s *scraping) scrapeOnce(client *http.Client) {
	at := time.Now()
	body, err := fetch(client, "http://"+s.addr+"/metrics")
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		err = s.store.addScrape(body, at)
	}
	if err != nil {
		s.lastErr = err
		return
	}
	if s.scrapes == 0 {
		s.start = at
	}
	s.scrapes++
	s.end = at
}

func fetch(client *http.Client, url string) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 32<<20))
}

// waitFor waits until n more scrapes have succeeded.
func (s *scraping) waitFor(t *testing.T, n int) {
	t.Helper()
	s.mu.Lock()
	want := s.scrapes + n
	s.mu.Unlock()
	testenv.Eventually(t, time.Minute, fmt.Sprintf("%d more scrapes of the metrics endpoint", n), func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.scrapes >= want, fmt.Sprintf("%d scrapes, last error: %v", s.scrapes, s.lastErr)
	})
}

// stop ends the scraping and returns the samples and the time of the first and the last scrape.
func (s *scraping) stop() (*sampleStore, time.Time, time.Time) {
	close(s.done)
	<-s.ended
	return s.store, s.start, s.end
}
