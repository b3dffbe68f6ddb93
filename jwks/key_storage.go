package jwks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"go.uber.org/zap"
)

// KeyStorage is where generated keys are kept so that they survive
// restarts and are shared by every instance that shares it (Caddy's
// storage, certmagic.Storage, has these methods). Load answers an error
// wrapping fs.ErrNotExist for a key never stored.
type KeyStorage interface {
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
	Load(ctx context.Context, key string) ([]byte, error)
	Store(ctx context.Context, key string, value []byte) error
}

// StoredKey is a private key that can be written to storage.
type StoredKey interface {
	PEM() ([]byte, error)
	KeyID() string
}

// LoadKey reads a key from path, or from storage at storageKey when path
// is empty, generating and storing one on first use (under the storage's
// lock, so that instances starting together agree on one). A nil storage
// is an error when path is empty: a generated key would not outlive the
// process. A generated key is logged by its kid.
func LoadKey[K StoredKey](ctx context.Context, storage KeyStorage, logger *zap.Logger, path, storageKey string,
	parse func([]byte) (K, error), generate func() (K, error)) (K, error) {
	var none K
	if path != "" {
		pemBytes, err := os.ReadFile(path)
		if err != nil {
			return none, err
		}
		return parse(pemBytes)
	}
	if storage == nil {
		return none, errors.New("no storage to keep a generated key in; set the key's file")
	}
	lockCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := storage.Lock(lockCtx, storageKey); err != nil {
		return none, fmt.Errorf("locking %s in storage: %v", storageKey, err)
	}
	defer func() { _ = storage.Unlock(context.Background(), storageKey) }()

	pemBytes, err := storage.Load(lockCtx, storageKey)
	if err == nil {
		return parse(pemBytes)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return none, fmt.Errorf("reading %s from storage: %v", storageKey, err)
	}
	key, err := generate()
	if err != nil {
		return none, err
	}
	pemBytes, err = key.PEM()
	if err != nil {
		return none, err
	}
	if err := storage.Store(lockCtx, storageKey, pemBytes); err != nil {
		return none, fmt.Errorf("saving generated key to storage: %v", err)
	}
	logger.Info("generated a key and saved it in storage",
		zap.String("storage_key", storageKey), zap.String("kid", key.KeyID()))
	return key, nil
}
