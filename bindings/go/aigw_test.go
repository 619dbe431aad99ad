package aigw_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	aigw "github.com/aigw/aigw-go"
)

// mockURL is the base URL of the aigw-mock started by TestMain.
var mockURL string

// TestMain starts the project's mock provider on 127.0.0.1 (the binary from
// $AIGW_MOCK_BIN, or ../../target/release/aigw-mock), runs the tests
// against it and stops it.
func TestMain(m *testing.M) {
	os.Exit(runWithMock(m))
}

func runWithMock(m *testing.M) int {
	bin := os.Getenv("AIGW_MOCK_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "target", "release", "aigw-mock")
	}
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(os.Stderr, "aigw tests: mock binary %s not found (run 'make lib' first): %v\n", bin, err)
		return 2
	}
	dir, err := os.MkdirTemp("", "aigw-go-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)

	cmd := exec.Command(bin, "--port-file", filepath.Join(dir, "port"))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "aigw tests: starting %s: %v\n", bin, err)
		return 2
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()

	// The mock's first stdout line is its URL.
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- strings.TrimSpace(s.Text())
		}
		close(line)
	}()
	select {
	case u, ok := <-line:
		if !ok || !strings.HasPrefix(u, "http://127.0.0.1:") {
			fmt.Fprintf(os.Stderr, "aigw tests: unexpected first line from the mock: %q\n", u)
			return 2
		}
		mockURL = u
	case <-time.After(10 * time.Second):
		fmt.Fprintln(os.Stderr, "aigw tests: no URL from the mock after 10 s")
		return 2
	}
	return m.Run()
}

// newGateway returns a gateway whose openai and huggingface providers point
// at the mock, closed at the end of the test.
func newGateway(t testing.TB, extra string) *aigw.Gateway {
	t.Helper()
	cfg := fmt.Sprintf(`{"providers":{"openai":{"base_url":%q},"huggingface":{"base_url":%q}}%s}`,
		mockURL+"/v1", mockURL+"/_mock/status=503", extra)
	return gatewayFrom(t, cfg)
}

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`

func chatRequest(mock string) *aigw.Request {
	h := http.Header{
		"Authorization": {"Bearer sk-test"},
		"Content-Type":  {"application/json"},
	}
	if mock != "" {
		h.Set("x-mock", mock)
	}
	return &aigw.Request{Method: "POST", Path: "openai/chat/completions", Header: h, Body: []byte(chatBody)}
}

func TestVersion(t *testing.T) {
	if v := aigw.Version(); v == "" || v != aigw.HeaderVersion {
		t.Fatalf("Version() = %q, header says %q", v, aigw.HeaderVersion)
	}
}

func TestSend(t *testing.T) {
	gw := newGateway(t, "")
	resp, err := gw.Send(context.Background(), chatRequest(""))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if resp.Status != 200 || resp.Step != 0 {
		t.Fatalf("status %d step %d, want 200 step 0", resp.Status, resp.Step)
	}
	if got := resp.Header.Get("X-Mock-Path"); got != "/v1/chat/completions" {
		t.Errorf("x-mock-path = %q", got)
	}
	var body struct {
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	if body.Object != "chat.completion" || body.Model != "gpt-4o-mini" ||
		len(body.Choices) != 1 || body.Choices[0].Message.Content != "Hello from the aigw mock." {
		t.Errorf("unexpected body %s", resp.Body)
	}
}

func TestSendForwardsHeadersAndBody(t *testing.T) {
	gw := newGateway(t, "")
	req := chatRequest("echo")
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	req.Header.Set("cf-aig-max-attempts", "1") // consumed, never forwarded
	resp, err := gw.Send(context.Background(), req)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	var echo struct {
		Method  string      `json:"method"`
		Headers [][2]string `json:"headers"`
		Body    string      `json:"body"`
	}
	if err := json.Unmarshal(resp.Body, &echo); err != nil {
		t.Fatalf("echo body %q: %v", resp.Body, err)
	}
	if echo.Method != "POST" || echo.Body != chatBody {
		t.Errorf("echo method %q body %q", echo.Method, echo.Body)
	}
	var multi []string
	for _, h := range echo.Headers {
		switch strings.ToLower(h[0]) {
		case "x-multi":
			multi = append(multi, h[1])
		case "cf-aig-max-attempts":
			t.Errorf("cf-aig-max-attempts was forwarded")
		}
	}
	if strings.Join(multi, ",") != "one,two" {
		t.Errorf("x-multi forwarded as %q", multi)
	}
}

func TestUniversalFallback(t *testing.T) {
	gw := newGateway(t, "")
	steps := `[
	  {"provider":"huggingface","endpoint":"bigcode/starcoder",
	   "headers":{"Authorization":"Bearer hf-test"},"query":{"inputs":"x"}},
	  {"provider":"openai","endpoint":"chat/completions","authorization":"Bearer sk-test",
	   "query":` + chatBody + `}
	]`
	resp, err := gw.Send(context.Background(), &aigw.Request{Path: "", Body: []byte(steps)})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if resp.Status != 200 || resp.Step != 1 || resp.Header.Get("cf-aig-step") != "1" {
		t.Fatalf("status %d step %d cf-aig-step %q, want 200 from step 1",
			resp.Status, resp.Step, resp.Header.Get("cf-aig-step"))
	}
	if !strings.Contains(string(resp.Body), "Hello from the aigw mock.") {
		t.Errorf("body %s", resp.Body)
	}
}

func TestRetriesThenServes(t *testing.T) {
	gw := newGateway(t, "")
	key := fmt.Sprintf("go-retry-%d", time.Now().UnixNano())
	req := chatRequest("fail=2,key=" + key)
	req.Header.Set("cf-aig-max-attempts", "3")
	resp, err := gw.Send(context.Background(), req)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if resp.Status != 200 {
		t.Fatalf("status %d after retries, want 200", resp.Status)
	}
}

func TestHTTPErrorIsAResponse(t *testing.T) {
	gw := newGateway(t, "")
	resp, err := gw.Send(context.Background(), chatRequest("status=503"))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if resp.Status != 503 || !strings.Contains(string(resp.Body), "mock status 503") {
		t.Fatalf("status %d body %s", resp.Status, resp.Body)
	}
}

func TestErrors(t *testing.T) {
	if _, err := aigw.New(`{"no_such_key":1}`); !errors.Is(err, aigw.StatusInvalidConfig) {
		t.Errorf("New with an unknown key: %v, want StatusInvalidConfig", err)
	} else if e := (*aigw.Error)(nil); !errors.As(err, &e) || !strings.Contains(e.Message, "no_such_key") {
		t.Errorf("New: message %q does not name the key", err)
	}

	gw := newGateway(t, "")
	closed, err := aigw.New(`{"providers":{"custom-closed":{"base_url":"http://127.0.0.1:1/v1"}}}`)
	if err != nil {
		t.Fatal(err)
	}
	defer closed.Close()

	timeoutReq := chatRequest("stall=3000")
	timeoutReq.Header.Set("cf-aig-request-timeout", "200")
	badAttempts := chatRequest("")
	badAttempts.Header.Set("cf-aig-max-attempts", "nine")

	cases := []struct {
		name string
		gw   *aigw.Gateway
		req  *aigw.Request
		want aigw.Status
	}{
		{"unknown provider", gw, &aigw.Request{Path: "no-such-provider/chat"}, aigw.StatusUnknownProvider},
		{"connection refused", closed, &aigw.Request{Path: "custom-closed/chat/completions", Body: []byte(chatBody)}, aigw.StatusConnect},
		{"request timeout", gw, timeoutReq, aigw.StatusTimeout},
		{"bad cf-aig value", gw, badAttempts, aigw.StatusInvalidRequest},
		{"bad header name", gw, &aigw.Request{Path: "openai/chat/completions", Header: http.Header{"Bad Name": {"v"}}}, aigw.StatusInvalidArgument},
		{"bad header value", gw, &aigw.Request{Path: "openai/chat/completions", Header: http.Header{"X-Ok": {"a\r\nb"}}}, aigw.StatusInvalidArgument},
		{"NUL in path", gw, &aigw.Request{Path: "openai/\x00"}, aigw.StatusInvalidArgument},
		{"nil request", gw, nil, aigw.StatusNullArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.gw.Send(context.Background(), tc.req)
			if err == nil {
				t.Fatalf("got HTTP %d, want %v", resp.Status, tc.want)
			}
			var e *aigw.Error
			if !errors.As(err, &e) || e.Status != tc.want || !errors.Is(err, tc.want) || aigw.StatusOf(err) != tc.want {
				t.Fatalf("error %v (%T), want status %v", err, err, tc.want)
			}
			if strings.Contains(err.Error(), "sk-test") {
				t.Errorf("error leaks a credential: %v", err)
			}
		})
	}
}

func TestClose(t *testing.T) {
	gw, err := aigw.New("")
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := gw.Send(context.Background(), chatRequest("")); !errors.Is(err, aigw.ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
	if _, err := gw.Stream(context.Background(), chatRequest(""), nil); !errors.Is(err, aigw.ErrClosed) {
		t.Fatalf("Stream after Close: %v, want ErrClosed", err)
	}
}

// checkCancelled asserts err is a cancellation that wraps want.
func checkCancelled(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, aigw.StatusCancelled) || !errors.Is(err, want) {
		t.Fatalf("error %v, want StatusCancelled wrapping %v", err, want)
	}
}

func TestCancelWhileUpstreamStalls(t *testing.T) {
	gw := newGateway(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := gw.Send(ctx, chatRequest("stall=5000"))
	elapsed := time.Since(start)
	checkCancelled(t, err, context.Canceled)
	if elapsed > 2*time.Second {
		t.Fatalf("Send returned %v after the cancel; want well under the 5 s stall", elapsed)
	}
}

func TestDeadlineWhileUpstreamStalls(t *testing.T) {
	gw := newGateway(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := gw.Send(ctx, chatRequest("stall=5000"))
	checkCancelled(t, err, context.DeadlineExceeded)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("Send returned after %v", elapsed)
	}
}

func TestAlreadyCancelled(t *testing.T) {
	gw := newGateway(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := gw.Send(ctx, chatRequest(""))
	checkCancelled(t, err, context.Canceled)
	_, err = gw.Stream(ctx, chatRequest("stream"), func(aigw.Event) error { return nil })
	checkCancelled(t, err, context.Canceled)
}

func TestStream(t *testing.T) {
	gw := newGateway(t, "")
	var events []aigw.Event
	resp, err := gw.Stream(context.Background(), chatRequest("stream,events=5"), func(ev aigw.Event) error {
		events = append(events, ev)
		return nil
	})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if resp.Status != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") || len(resp.Body) != 0 {
		t.Fatalf("head: status %d content-type %q body %q", resp.Status, resp.Header.Get("Content-Type"), resp.Body)
	}
	if len(events) != 6 || events[5].Data != "[DONE]" {
		t.Fatalf("got %d events (%+v), want 5 chunks and [DONE]", len(events), events)
	}
	for i, ev := range events[:5] {
		var chunk struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
		}
		if ev.Event != "message" {
			t.Errorf("event %d type %q", i, ev.Event)
		}
		if err := json.Unmarshal([]byte(ev.Data), &chunk); err != nil || len(chunk.Choices) != 1 ||
			chunk.Choices[0].Delta.Content != fmt.Sprintf("tok%d ", i) {
			t.Errorf("event %d data %q (%v)", i, ev.Data, err)
		}
	}
}

func TestStreamUniversalFallback(t *testing.T) {
	gw := newGateway(t, "")
	steps := `[
	  {"provider":"openai","endpoint":"chat/completions","headers":{"x-mock":"stream,error_first"},"query":{}},
	  {"provider":"openai","endpoint":"chat/completions","headers":{"x-mock":"stream,events=3"},"query":{}}
	]`
	n := 0
	resp, err := gw.Stream(context.Background(), &aigw.Request{Body: []byte(steps)}, func(ev aigw.Event) error {
		if ev.Event == "error" {
			t.Errorf("an event of the failed step reached the callback: %+v", ev)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if resp.Step != 1 || n != 4 {
		t.Fatalf("step %d, %d events; want step 1 and 4 events", resp.Step, n)
	}
}

func TestStreamNonSSEBody(t *testing.T) {
	gw := newGateway(t, "")
	called := false
	resp, err := gw.Stream(context.Background(), chatRequest("status=503"), func(aigw.Event) error {
		called = true
		return nil
	})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if called || resp.Status != 503 || !strings.Contains(string(resp.Body), "mock status 503") {
		t.Fatalf("called %v status %d body %q", called, resp.Status, resp.Body)
	}
}

func TestStreamAbortFromCallback(t *testing.T) {
	gw := newGateway(t, "")
	errEnough := errors.New("enough")
	n := 0
	_, err := gw.Stream(context.Background(), chatRequest("stream,events=10"), func(aigw.Event) error {
		n++
		if n == 2 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, aigw.StatusAborted) || !errors.Is(err, errEnough) {
		t.Fatalf("error %v, want StatusAborted wrapping errEnough", err)
	}
	if n != 2 {
		t.Fatalf("callback ran %d times, want 2 (none after the error)", n)
	}
}

func TestStreamPanicInCallback(t *testing.T) {
	gw := newGateway(t, "")
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v, want the callback's panic", p)
		}
		// The gateway still works after the panic went through Stream.
		if _, err := gw.Send(context.Background(), chatRequest("")); err != nil {
			t.Fatalf("Send after panic: %v", err)
		}
	}()
	_, _ = gw.Stream(context.Background(), chatRequest("stream"), func(aigw.Event) error { panic("boom") })
	t.Fatal("Stream did not re-raise the callback's panic")
}

func TestStreamCancelMidStream(t *testing.T) {
	gw := newGateway(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var cancelledAt time.Time
	_, err := gw.Stream(ctx, chatRequest("stream,events=10,stall_after=2"), func(aigw.Event) error {
		n++
		if n == 2 {
			cancelledAt = time.Now()
			go func() { time.Sleep(100 * time.Millisecond); cancel() }()
		}
		return nil
	})
	checkCancelled(t, err, context.Canceled)
	if n != 2 {
		t.Fatalf("%d events, want 2", n)
	}
	if d := time.Since(cancelledAt); d > 2*time.Second {
		t.Fatalf("Stream returned %v after the second event", d)
	}
}

func TestStreamInterrupted(t *testing.T) {
	gw := newGateway(t, "")
	n := 0
	_, err := gw.Stream(context.Background(), chatRequest("stream,events=10,break_after=3"), func(aigw.Event) error {
		n++
		return nil
	})
	if !errors.Is(err, aigw.StatusStreamInterrupted) || n != 3 {
		t.Fatalf("error %v after %d events, want StatusStreamInterrupted after 3", err, n)
	}
}

func TestConcurrentGoroutines(t *testing.T) {
	gw := newGateway(t, "")
	const goroutines, perG = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*perG)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				var err error
				if i%4 == 3 {
					n := 0
					_, err = gw.Stream(ctx, chatRequest("stream,events=3"), func(aigw.Event) error { n++; return nil })
					if err == nil && n != 4 {
						err = fmt.Errorf("goroutine %d stream %d: %d events", g, i, n)
					}
				} else {
					var resp *aigw.Response
					resp, err = gw.Send(ctx, chatRequest(""))
					if err == nil && resp.Status != 200 {
						err = fmt.Errorf("goroutine %d send %d: HTTP %d", g, i, resp.Status)
					}
				}
				cancel()
				if err != nil {
					errs <- err
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	gw := newGateway(t, "")
	before := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := gw.Send(ctx, chatRequest("")); err != nil {
			t.Fatal(err)
		}
		if _, err := gw.Stream(ctx, chatRequest("stream,events=2"), func(aigw.Event) error { return nil }); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	// The watcher goroutines have exited when Send returns; allow the
	// runtime a moment for unrelated ones.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Fatalf("goroutines: %d before, %d after 100 calls", before, after)
	}
}

func TestCloseWaitsForCallsInFlight(t *testing.T) {
	gw, err := aigw.New(fmt.Sprintf(`{"providers":{"openai":{"base_url":%q}}}`, mockURL+"/v1"))
	if err != nil {
		t.Fatal(err)
	}
	var events int32
	started := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		_, err := gw.Stream(context.Background(), chatRequest("stream,events=3,delay_ms=100"), func(aigw.Event) error {
			if atomic.AddInt32(&events, 1) == 1 {
				close(started)
			}
			return nil
		})
		result <- err
	}()
	<-started
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	if n := atomic.LoadInt32(&events); n != 4 {
		t.Fatalf("Close returned after %d of 4 events of the stream in flight", n)
	}
	if err := <-result; err != nil {
		t.Fatalf("the stream in flight failed: %v", err)
	}
}

func BenchmarkSend(b *testing.B) {
	gw := newGateway(b, "")
	req := chatRequest("")
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := gw.Send(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
