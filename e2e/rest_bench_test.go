package e2e_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// loadREST sends n GETs of url with the given headers from c concurrent
// clients and answers requests per second and the p50 and p99 latencies.
func loadREST(b *testing.B, client *http.Client, url string, headers map[string]string, n, c int) (float64, time.Duration, time.Duration) {
	b.Helper()
	lat := make([]time.Duration, n)
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= n {
					return
				}
				req, _ := http.NewRequest("GET", url, nil)
				for h, v := range headers {
					req.Header.Set(h, v)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				lat[k] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	return float64(n) / elapsed.Seconds(), lat[n/2], lat[n*99/100]
}

// BenchmarkRESTAuthenticatedGET measures an authenticated GET of an
// organisation through the whole edge (HTTPS, authentication, rate limit,
// grpc-gateway, mTLS to tenancy, authorization, PostgreSQL with RLS), next
// to a bare Go HTTPS server answering a constant on the same machine in the
// same run, with the same client.
func BenchmarkRESTAuthenticatedGET(b *testing.B) {
	const requests, clients = 2000, 16
	s := StartSuite(b)
	s.signup(b, "rest@example.com", goodPassword)
	tok, _ := s.login(b, "rest@example.com", goodPassword)
	_, out := s.req(b, "POST", "/v1/orgs", map[string]any{"name": "Bench"}, tok, "")
	org := out["org"].(map[string]any)["id"].(string)
	client := s.client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = clients
	bare := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"org":{"id":"`+org+`","name":"Bench"}}`)
	}))
	bare.StartTLS()
	b.Cleanup(bare.Close)
	bareClient := bare.Client()
	bareClient.Transport.(*http.Transport).MaxIdleConnsPerHost = clients
	headers := map[string]string{"Authorization": "Bearer " + tok, "X-Org-Id": org}
	b.ResetTimer()
	var rps, p50, p99, brps, bp50, bp99 float64
	for range b.N {
		r, a, c := loadREST(b, client, s.URL+"/v1/orgs/"+org, headers, requests, clients)
		br, ba, bc := loadREST(b, bareClient, bare.URL+"/v1/orgs/"+org, headers, requests, clients)
		rps, p50, p99 = rps+r, p50+float64(a.Microseconds())/1000, p99+float64(c.Microseconds())/1000
		brps, bp50, bp99 = brps+br, bp50+float64(ba.Microseconds())/1000, bp99+float64(bc.Microseconds())/1000
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(rps/n, "req/s")
	b.ReportMetric(p50/n, "p50-ms")
	b.ReportMetric(p99/n, "p99-ms")
	b.ReportMetric(brps/n, "bare-req/s")
	b.ReportMetric(bp50/n, "bare-p50-ms")
	b.ReportMetric(bp99/n, "bare-p99-ms")
}
