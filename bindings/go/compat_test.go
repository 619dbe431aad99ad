package aigw_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	aigw "github.com/aigw/aigw-go"
)

// TestStreamCompat streams a unified-API request that the gateway
// translates to Anthropic's Messages API and back: the callback sees
// OpenAI chat.completion.chunk events only.
func TestStreamCompat(t *testing.T) {
	cfg := fmt.Sprintf(`{"providers":{"anthropic":{"base_url":%q}}}`, mockURL)
	gw := gatewayFrom(t, cfg)
	req := &aigw.Request{
		Method: "POST",
		Path:   "compat/chat/completions",
		Header: http.Header{"Authorization": {"Bearer sk-ant-test"}, "X-Mock": {"events=3"}},
		Body: []byte(`{"model":"anthropic/claude-3-5-haiku","stream":true,` +
			`"messages":[{"role":"user","content":"Hi"}]}`),
	}
	var text strings.Builder
	var events []aigw.Event
	resp, err := gw.Stream(context.Background(), req, func(ev aigw.Event) error {
		events = append(events, ev)
		appendChunkText(t, ev, &text)
		return nil
	})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if resp.Header.Get("cf-aig-provider") != "anthropic" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("head: %v", resp.Header)
	}
	if text.String() != "tok0 tok1 tok2 " || events[len(events)-1].Data != "[DONE]" {
		t.Fatalf("text %q, %d events", text.String(), len(events))
	}
}
