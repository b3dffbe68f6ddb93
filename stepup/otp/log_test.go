package otp

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestLogSender(t *testing.T) {
	expires := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name       string
		msg        Message
		wantFields map[string]any
		absent     []string
	}{
		{
			name: "step-up",
			msg: Message{Channel: ChannelSMS, To: "+33612345678", Code: "123456", Purpose: PurposeStepUp,
				ExpiresAt: expires, ChallengeID: "ch_1", Scope: "transfer:write"},
			wantFields: map[string]any{"to": "+33612345678", "code": "123456", "channel": "sms",
				"purpose": "step_up", "expires_at": expires, "challenge_id": "ch_1", "scope": "transfer:write"},
		},
		{
			name:       "login",
			msg:        Message{Channel: ChannelEmail, To: "a@example.com", Code: "654321", Purpose: PurposeLogin, ExpiresAt: expires},
			wantFields: map[string]any{"to": "a@example.com", "code": "654321", "channel": "email", "purpose": "login"},
			absent:     []string{"challenge_id", "scope"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			if err := NewLogSender(zap.New(core)).Send(context.Background(), tt.msg); err != nil {
				t.Fatal(err)
			}
			entries := logs.AllUntimed()
			if len(entries) != 1 {
				t.Fatalf("got %d entries, want 1", len(entries))
			}
			e := entries[0]
			if e.Level != zapcore.InfoLevel || e.Message != "otp code" {
				t.Fatalf("entry %v %q", e.Level, e.Message)
			}
			fields := e.ContextMap()
			for k, want := range tt.wantFields {
				got, ok := fields[k]
				if wt, isTime := want.(time.Time); isTime {
					gt, _ := got.(time.Time)
					ok = ok && gt.Equal(wt)
				} else {
					ok = ok && got == want
				}
				if !ok {
					t.Errorf("field %s = %v, want %v", k, got, want)
				}
			}
			for _, k := range tt.absent {
				if _, ok := fields[k]; ok {
					t.Errorf("field %s present", k)
				}
			}
		})
	}
}

func TestLogSenderRejectsInvalidMessage(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	err := NewLogSender(zap.New(core)).Send(context.Background(), Message{Channel: "pigeon", To: "x", Code: "1", Purpose: PurposeLogin, ExpiresAt: time.Now()})
	if err == nil || logs.Len() != 0 {
		t.Fatalf("err %v, %d entries", err, logs.Len())
	}
}
