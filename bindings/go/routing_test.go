package aigw_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	aigw "github.com/aigw/aigw-go"
)

// Routes are checked when the gateway is created; a malformed one is
// StatusInvalidConfig naming the route and the element.
func TestRouteValidation(t *testing.T) {
	ok := `{"routes":{"tiers":{"elements":[
	  {"id":"start","type":"start","outputs":{"next":{"elementId":"split"}}},
	  {"id":"split","type":"percentage","outputs":{"30%":{"elementId":"a"},"70%":{"elementId":"b"}}},
	  {"id":"a","type":"model","properties":{"provider":"openai","model":"gpt-4o"},
	   "outputs":{"success":{"elementId":"end"},"fallback":{"elementId":"b"}}},
	  {"id":"b","type":"model","properties":{"provider":"openai","model":"gpt-4o-mini"},
	   "outputs":{"success":{"elementId":"end"}}},
	  {"id":"end","type":"end"}]}}}`
	gw, err := aigw.New(ok)
	if err != nil {
		t.Fatalf("New with a valid route: %v", err)
	}
	gw.Close()

	cycle := strings.Replace(ok, `"fallback":{"elementId":"b"}`, `"fallback":{"elementId":"split"}`, 1)
	_, err = aigw.New(cycle)
	var e *aigw.Error
	if !errors.Is(err, aigw.StatusInvalidConfig) || !errors.As(err, &e) {
		t.Fatalf("New with a cycle: %v, want StatusInvalidConfig", err)
	}
	if !strings.Contains(e.Message, "routes.tiers") || !strings.Contains(e.Message, "cycle") {
		t.Errorf("message %q does not name the route and the cycle", e.Message)
	}
}

// A provider and model that failed twice in a row is skipped while it
// cools down, even when it would have answered.
func TestCooldownSkipsAFailingTarget(t *testing.T) {
	gw := newGateway(t, `,"cooldown":{"after_failures":2,"seconds":60}`)
	steps := func(fault string) []byte {
		return []byte(fmt.Sprintf(`[
		  {"provider":"openai","endpoint":"chat/completions","headers":{"x-mock":%q},
		   "query":{"model":"go-flaky","messages":[]}},
		  {"provider":"openai","endpoint":"chat/completions","query":`+chatBody+`}]`, fault))
	}
	for i, c := range []struct {
		fault string
		step  int
	}{
		{"status=503", 1},
		{"status=502", 1},
		{"echo", 1}, // would answer, but it is cooling down
	} {
		resp, err := gw.Send(context.Background(), &aigw.Request{Body: steps(c.fault)})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.Status != 200 || resp.Step != c.step {
			t.Fatalf("request %d: status %d step %d, want 200 from step %d", i, resp.Status, resp.Step, c.step)
		}
	}
}
