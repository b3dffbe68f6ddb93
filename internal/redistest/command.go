package redistest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Do sends one command to the server at addr on a fresh connection and
// returns the reply as a string: the text of a simple or bulk string, the
// decimal form of an integer, and "" for a nil. Array replies are joined with
// newlines, nested ones too. An error reply is returned as a ReplyError; any
// other error means the server could not be reached or did not answer.
func Do(addr string, args ...string) (string, error) {
	client := redis.NewClient(&redis.Options{
		Addr:         addr,
		DialTimeout:  time.Second,
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 5 * time.Second,
		// Send the command once and dial once: callers poll servers that are
		// starting or were killed, and a command such as CLIENT PAUSE must
		// not run twice.
		MaxRetries:    -1,
		DialerRetries: 1,
		// RESP2 replies are only strings, integers, nils and arrays, the
		// forms replyText renders; RESP3 would turn CONFIG GET into a map.
		Protocol: 2,
		// Skip the CLIENT SETINFO and CLIENT MAINT_NOTIFICATIONS handshakes,
		// which a one-command client has no use for.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	defer client.Close()

	cmd := make([]any, len(args))
	for i, a := range args {
		cmd[i] = a
	}
	reply, err := client.Do(context.Background(), cmd...).Result()
	if errors.Is(err, redis.Nil) { // checked first: redis.Nil is a redis.Error too
		return "", nil
	}
	var serverErr redis.Error
	if errors.As(err, &serverErr) {
		return "", ReplyError(serverErr.Error())
	}
	if err != nil {
		return "", err
	}
	return replyText(reply)
}

// ReplyError is an error reply from the server ("ERR ...", "NOAUTH ..."),
// as opposed to a network failure: the server is up and answered.
type ReplyError string

// Error returns the reply text.
func (e ReplyError) Error() string { return string(e) }

// replyText renders a RESP2 reply, as decoded by go-redis, in the string
// forms Do documents.
func replyText(reply any) (string, error) {
	switch v := reply.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case []any:
		parts := make([]string, len(v))
		for i, elem := range v {
			var err error
			if parts[i], err = replyText(elem); err != nil {
				return "", err
			}
		}
		return strings.Join(parts, "\n"), nil
	case error: // an error reply inside an array, as EXEC can return
		return "", ReplyError(v.Error())
	default:
		return "", fmt.Errorf("redistest: unexpected reply type %T", reply)
	}
}
