package aigw_test

// Set-up shared by the package's tests: gateways that close themselves and
// the reading of OpenAI chat chunks from a stream.

import (
	"encoding/json"
	"strings"
	"testing"

	aigw "github.com/aigw/aigw-go"
)

// gatewayFrom creates a gateway from config JSON, closed at the end of the
// test.
func gatewayFrom(t testing.TB, cfg string) *aigw.Gateway {
	t.Helper()
	gw, err := aigw.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := gw.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return gw
}

// appendChunkText appends the delta content of an OpenAI
// chat.completion.chunk event to text, and fails the test for an event that
// is not one ("[DONE]" is skipped).
func appendChunkText(t testing.TB, ev aigw.Event, text *strings.Builder) {
	t.Helper()
	if ev.Data == "[DONE]" {
		return
	}
	var chunk struct {
		Object  string `json:"object"`
		Choices []struct {
			Delta struct{ Content string } `json:"delta"`
		} `json:"choices"`
	}
	if err := json.Unmarshal([]byte(ev.Data), &chunk); err != nil || chunk.Object != "chat.completion.chunk" {
		t.Errorf("event %q is not a chat chunk (%v)", ev.Data, err)
	}
	for _, c := range chunk.Choices {
		text.WriteString(c.Delta.Content)
	}
}
