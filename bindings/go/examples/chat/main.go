// Command chat shows the Go binding end to end: a provider call, a
// Universal request that falls back from a failing step to a serving one,
// and a chat completion streamed token by token (Ctrl-C cancels it).
//
// Against the project's mock (from the repository root):
//
//	make go-demo
//	# or: scripts/with-mock.sh sh -c 'cd bindings/go && go run ./examples/chat'
//
// Against a real OpenAI-compatible provider:
//
//	go run ./examples/chat -base https://api.openai.com/v1 -key "$OPENAI_API_KEY" -model gpt-4o-mini
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"

	aigw "github.com/aigw/aigw-go"
)

func main() {
	mock := strings.TrimRight(os.Getenv("AIGW_MOCK_URL"), "/")
	defaultBase := ""
	if mock != "" {
		defaultBase = mock + "/v1"
	}
	base := flag.String("base", defaultBase, "OpenAI-compatible base URL (default: $AIGW_MOCK_URL/v1)")
	key := flag.String("key", "sk-demo", "API key")
	model := flag.String("model", "gpt-4o-mini", "model")
	prompt := flag.String("prompt", "Say hello", "prompt")
	flag.Parse()
	if *base == "" {
		fmt.Fprintln(os.Stderr, "chat: set AIGW_MOCK_URL or pass -base")
		os.Exit(2)
	}

	// Ctrl-C cancels the call in flight through its context.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	providers := map[string]any{"openai": map[string]string{"base_url": *base}}
	if mock != "" {
		// Step 0 of the Universal request below: always fails with 503.
		providers["huggingface"] = map[string]string{"base_url": mock + "/_mock/status=503"}
	}
	cfg, _ := json.Marshal(map[string]any{"providers": providers})
	gw, err := aigw.New(string(cfg))
	if err != nil {
		fail(err)
	}
	defer gw.Close()
	fmt.Printf("aigw %s\n", aigw.Version())

	chat, _ := json.Marshal(map[string]any{
		"model":    *model,
		"messages": []map[string]string{{"role": "user", "content": *prompt}},
	})
	header := http.Header{
		"Authorization": {"Bearer " + *key},
		"Content-Type":  {"application/json"},
	}

	// 1. A provider endpoint.
	resp, err := gw.Send(ctx, &aigw.Request{Method: "POST", Path: "openai/chat/completions", Header: header, Body: chat})
	if err != nil {
		fail(err)
	}
	fmt.Printf("== provider call: HTTP %d: %s\n", resp.Status, content(resp.Body))

	// 2. The Universal Endpoint: step 0 fails, step 1 serves.
	if mock != "" {
		steps, _ := json.Marshal([]map[string]any{
			{"provider": "huggingface", "endpoint": "bigcode/starcoder",
				"headers": map[string]string{"Authorization": "Bearer hf-demo"},
				"query":   map[string]string{"inputs": "console.log"}},
			{"provider": "openai", "endpoint": "chat/completions",
				"authorization": "Bearer " + *key, "query": json.RawMessage(chat)},
		})
		resp, err = gw.Send(ctx, &aigw.Request{Path: "", Body: steps})
		if err != nil {
			fail(err)
		}
		fmt.Printf("== universal: HTTP %d, served by step %d: %s\n", resp.Status, resp.Step, content(resp.Body))
	}

	// 3. Streaming, token by token.
	var req map[string]any
	_ = json.Unmarshal(chat, &req)
	req["stream"] = true
	streamBody, _ := json.Marshal(req)
	fmt.Print("== stream: ")
	resp, err = gw.Stream(ctx, &aigw.Request{Method: "POST", Path: "openai/chat/completions", Header: header, Body: streamBody},
		func(ev aigw.Event) error {
			if ev.Data == "[DONE]" {
				return nil
			}
			var chunk struct {
				Choices []struct {
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
				} `json:"choices"`
			}
			if json.Unmarshal([]byte(ev.Data), &chunk) == nil && len(chunk.Choices) > 0 {
				fmt.Print(chunk.Choices[0].Delta.Content)
			}
			return nil
		})
	fmt.Println()
	if err != nil {
		fail(err)
	}
	if resp.Status != http.StatusOK {
		fmt.Printf("HTTP %d: %s\n", resp.Status, resp.Body)
	}
}

// content extracts choices[0].message.content, or returns the body.
func content(body []byte) string {
	var c struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if json.Unmarshal(body, &c) == nil && len(c.Choices) > 0 {
		return c.Choices[0].Message.Content
	}
	return string(body)
}

func fail(err error) {
	if errors.Is(err, context.Canceled) { // Ctrl-C
		fmt.Fprintln(os.Stderr, "chat: cancelled")
		os.Exit(130)
	}
	fmt.Fprintf(os.Stderr, "chat: %v (status %d)\n", err, aigw.StatusOf(err))
	os.Exit(1)
}
