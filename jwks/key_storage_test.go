package jwks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
)

// memStorage is a KeyStorage in memory that records its locks.
type memStorage struct {
	files   map[string][]byte
	locks   []string
	loadErr error
}

func (s *memStorage) Lock(_ context.Context, name string) error {
	s.locks = append(s.locks, "lock "+name)
	return nil
}

func (s *memStorage) Unlock(_ context.Context, name string) error {
	s.locks = append(s.locks, "unlock "+name)
	return nil
}

func (s *memStorage) Load(_ context.Context, key string) ([]byte, error) {
	if s.loadErr != nil {
		return nil, s.loadErr
	}
	b, ok := s.files[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return b, nil
}

func (s *memStorage) Store(_ context.Context, key string, value []byte) error {
	s.files[key] = value
	return nil
}

// TestLoadKeyGeneratesOnceAndKeepsIt: the first load generates and stores
// a key under the lock, the next one reads the same key back.
func TestLoadKeyGeneratesOnceAndKeepsIt(t *testing.T) {
	ctx := context.Background()
	s := &memStorage{files: map[string][]byte{}}
	first, err := LoadKey(ctx, s, zap.NewNop(), "", "stepup/k.pem", ParseSigner, GenerateSigner)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadKey(ctx, s, zap.NewNop(), "", "stepup/k.pem", ParseSigner, GenerateSigner)
	if err != nil || again.KeyID() != first.KeyID() || len(s.files) != 1 {
		t.Fatalf("%v: kid %s then %s, %d files", err, first.KeyID(), again.KeyID(), len(s.files))
	}
	if want := []string{"lock stepup/k.pem", "unlock stepup/k.pem", "lock stepup/k.pem", "unlock stepup/k.pem"}; fmt.Sprint(s.locks) != fmt.Sprint(want) {
		t.Fatalf("locks %v", s.locks)
	}
}

// TestLoadKeyFromAFile reads the file, and never the storage.
func TestLoadKeyFromAFile(t *testing.T) {
	key, _ := GenerateSigner()
	pemBytes, _ := key.PEM()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadKey(context.Background(), nil, zap.NewNop(), path, "unused", ParseSigner, GenerateSigner)
	if err != nil || got.KeyID() != key.KeyID() {
		t.Fatalf("%v: %v", err, got)
	}
	if _, err := LoadKey(context.Background(), nil, zap.NewNop(), path+".missing", "unused", ParseSigner, GenerateSigner); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a missing file: %v", err)
	}
}

// TestLoadKeyRefusals: no storage and no file, or a storage that cannot
// be read, is an error, and nothing is generated over an unreadable key.
func TestLoadKeyRefusals(t *testing.T) {
	ctx := context.Background()
	if _, err := LoadKey(ctx, nil, zap.NewNop(), "", "k", ParsePSSSigner, GeneratePSSSigner); err == nil {
		t.Fatal("no storage: no error")
	}
	s := &memStorage{files: map[string][]byte{}, loadErr: errors.New("disk")}
	if _, err := LoadKey(ctx, s, zap.NewNop(), "", "k", ParseSigner, GenerateSigner); err == nil || len(s.files) != 0 {
		t.Fatalf("unreadable storage: %v, %d files", err, len(s.files))
	}
}
