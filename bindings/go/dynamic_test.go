package aigw_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	aigw "github.com/aigw/aigw-go"
)

// TestStreamDynamicRoute streams "dynamic/<route>": the route's first model
// (anthropic) answers 503, so its fallback (google-ai-studio) serves, and
// the caller still gets OpenAI chunks, with the route named in the head.
func TestStreamDynamicRoute(t *testing.T) {
	cfg := fmt.Sprintf(`{"providers":{"anthropic":{"base_url":%q},"google-ai-studio":{"base_url":%q}},
	  "routes":{"chat":{"elements":[
	  {"id":"start","type":"start","outputs":{"next":{"elementId":"a"}}},
	  {"id":"a","type":"model","properties":{"provider":"anthropic","model":"claude-3-5-haiku"},
	   "outputs":{"success":{"elementId":"end"},"fallback":{"elementId":"g"}}},
	  {"id":"g","type":"model","properties":{"provider":"google-ai-studio","model":"gemini-2.0-flash"},
	   "outputs":{"success":{"elementId":"end"}}},
	  {"id":"end","type":"end"}]}}}`, mockURL+"/_mock/status=503", mockURL)
	gw := gatewayFrom(t, cfg)
	req := &aigw.Request{
		Method: "POST",
		Path:   "compat/chat/completions",
		Header: http.Header{"Authorization": {"Bearer sk-test"}, "X-Mock": {"events=3"}},
		Body: []byte(`{"model":"dynamic/chat","stream":true,` +
			`"messages":[{"role":"user","content":"Hi"}]}`),
	}
	var text strings.Builder
	var last string
	resp, err := gw.Stream(context.Background(), req, func(ev aigw.Event) error {
		last = ev.Data
		appendChunkText(t, ev, &text)
		return nil
	})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if resp.Header.Get("cf-aig-route") != "chat" || resp.Header.Get("cf-aig-provider") != "google-ai-studio" ||
		resp.Header.Get("cf-aig-model") != "gemini-2.0-flash" {
		t.Fatalf("head: %v", resp.Header)
	}
	if text.String() != "tok0 tok1 tok2 " || last != "[DONE]" {
		t.Fatalf("text %q, last event %q", text.String(), last)
	}
}
