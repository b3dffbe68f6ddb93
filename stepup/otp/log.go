package otp

import (
	"context"

	"go.uber.org/zap"
)

// NewLogSender returns a sender that writes each message as one Info entry
// "otp code" with the fields to, code, channel, purpose, expires_at and, when
// set, challenge_id and scope. The code is written unmasked: this sender is
// for development only, and its caller warns about it at start-up.
func NewLogSender(logger *zap.Logger) Sender {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &logSender{logger: logger}
}

type logSender struct {
	logger *zap.Logger
}

func (s *logSender) Send(_ context.Context, m Message) error {
	if err := m.validate(); err != nil {
		return err
	}
	fields := []zap.Field{
		zap.String("to", m.To),
		zap.String("code", m.Code),
		zap.String("channel", m.Channel),
		zap.String("purpose", m.Purpose),
		zap.Time("expires_at", m.ExpiresAt),
	}
	if m.ChallengeID != "" {
		fields = append(fields, zap.String("challenge_id", m.ChallengeID))
	}
	if m.Scope != "" {
		fields = append(fields, zap.String("scope", m.Scope))
	}
	s.logger.Info("otp code", fields...)
	return nil
}
