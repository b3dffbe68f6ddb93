package stepup

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/caddy-stepup/caddy-stepup/stepup/dpop"
	"github.com/caddy-stepup/caddy-stepup/stepup/otp"
	"github.com/caddy-stepup/caddy-stepup/stepup/store"
)

// CheckLogin completes a login with the code and a DPoP proof; the new
// session is bound to the proof's key, and the client receives a device
// cookie for that key (Tokens.Device). Four round trips in all:
//
//  1. the flow, and the client's failure counter and wait;
//  2. the attempt counted, the account's lock, the proof's jti marked
//     used, the identifier's index;
//  3. the user: created with its index when the identifier has none, else
//     read;
//  4. the user's record and index kept alive, the session and its entry
//     under the user, the flow taken, the client's budgets given back and
//     its failures forgotten.
//
// Everything the login needs is written before the flow is taken, in the
// same batch: when one of those writes fails or the flow was taken by
// another answer, the flow is put back (unless it was not ours), the
// session discarded and the budgets counted again (they only stay higher
// than they need to), and the client may retry.
func (e *Engine) CheckLogin(ctx context.Context, flowID, code string, proof *dpop.Proof, client ClientInfo) (tokens *Tokens, err error) {
	defer func() { e.loginResult("otp", client, tokens, err) }()
	if proof == nil {
		return nil, ErrMissingDPoP
	}
	if !validID(prefixFlow, flowID) || len(code) > 16 {
		return nil, ErrNoLoginFlow
	}
	guess := guessCounters{client: clientFailKey(clientKey(client.IP))}
	flowRead := store.GetOp(flowKey(flowID))
	clientReads := []*store.Op{store.GetOp(guess.client), store.GetOp(failWaitKey(guess.client))}
	store.Do(ctx, e.cfg.Store, flowRead, clientReads[0], clientReads[1])
	var flow loginFlow
	if err := e.decode(flowRead, &flow); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNoLoginFlow
		}
		return nil, err
	}
	raw := flowRead.Result
	if flow.OTP.Digest == nil || e.now().UnixMilli() > flow.OTP.Expires {
		return nil, ErrBadCheckCode
	}
	guess.account = flow.failKey(proof.Thumbprint)
	ident := Identifier{Type: flow.Type, Value: flow.Value}
	triesKey := flowTriesKey(flowID, flow.OTP.Gen)
	tries, lock := store.IncrOp(triesKey, e.cfg.OTP.TTL+time.Minute), store.GetOp(guess.account)
	jti := store.CreateOp(proofJTIKey(proof.Thumbprint, proof.ID), []byte("1"), 2*time.Minute)
	index := store.GetOp(identKey(ident.Type, ident.Value))
	store.Do(ctx, e.cfg.Store, tries, lock, jti, index)
	if err := e.judgeGuessing(&guess, []*store.Op{lock, clientReads[0], clientReads[1]}); err != nil {
		if tries.Err == nil {
			e.giveBack(ctx, []string{triesKey}) // a refused check spends no attempt
		}
		return nil, err
	}
	// Counted before the comparison, atomically: N parallel guesses can't
	// all be evaluated.
	if tries.Err != nil {
		return nil, storeErr(tries.Err)
	}
	if tries.N > int64(e.cfg.OTP.MaxAttempts) {
		return nil, ErrBadCheckCode
	}
	if !otp.Match(e.codeKey, flow.OTP.digestScope(flowID), code, flow.OTP.Digest) {
		if err := e.countFailure(ctx, &guess); err != nil {
			return nil, err
		}
		return nil, ErrBadCheckCode
	}
	// Only a login that succeeds as a whole spends its attempt.
	defer func() {
		if errors.Is(err, ErrUnavailable) {
			e.giveBack(ctx, []string{triesKey})
		}
	}()
	switch {
	case errors.Is(jti.Err, store.ErrExists):
		return nil, ErrInvalidDPoP
	case jti.Err != nil:
		return nil, storeErr(jti.Err)
	}
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			index = store.GetOp(identKey(ident.Type, ident.Value))
			store.Do(ctx, e.cfg.Store, index)
		}
		user, userWrites, err := e.loginUser(ctx, ident, index)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if flow.SignUpHash != "" {
			// A sign-up sets its password on the user as it stands once
			// kept alive (a round trip more, for sign-ups only).
			store.Do(ctx, e.cfg.Store, userWrites...)
			if err := firstErr(userWrites); errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return nil, storeErr(err)
			}
			userWrites = nil
			if err := e.setPassword(ctx, user.ID, flow.SignUpHash, false); err != nil {
				return nil, err
			}
		}
		s := e.newSession(user, proof.Thumbprint, e.loginEvent(flow.Type, e.now()), client)
		writes := append(userWrites, e.sessionWrites(s)...)
		take := store.TakeOp(flowKey(flowID))
		ops := append(append([]*store.Op{}, writes...), take)
		for _, k := range flow.Refund {
			ops = append(ops, store.DecrOp(k))
		}
		ops = append(ops, guess.clears()...)
		store.Do(ctx, e.cfg.Store, ops...)
		failed := firstErr(writes)
		ours := take.Err == nil && bytes.Equal(take.Result, raw)
		if failed == nil && ours {
			tokens, err := e.mint(s, nil)
			if err != nil {
				return nil, err
			}
			tokens.Device = e.deviceCookie(flow.Type, flow.Value, proof.Thumbprint)
			tokens.proved = &Identifier{Type: flow.Type, Value: flow.Value}
			return tokens, nil
		}
		e.undoLogin(ctx, s, take, flow.Refund)
		switch {
		case take.Err != nil && !errors.Is(take.Err, store.ErrNotFound):
			return nil, storeErr(take.Err)
		case !ours:
			return nil, ErrBadCheckCode // another answer took the flow, or a resend replaced its code
		case errors.Is(failed, store.ErrConflict), errors.Is(failed, store.ErrNotFound):
			continue // the user or its index changed meanwhile: read them again
		default:
			return nil, storeErr(failed)
		}
	}
	return nil, unavailable(errors.New("user record keeps changing"))
}

// undoLogin undoes the last batch of a login that did not finish: the flow
// goes back if it was taken (whoever's it was), the session goes, and the
// budgets given back are counted again. Best effort.
func (e *Engine) undoLogin(ctx context.Context, s *sessionRecord, take *store.Op, refund []string) {
	ops := []*store.Op{store.DeleteOp(sessionKey(s.ID))}
	if take.Err == nil {
		ops = append(ops, store.CreateOp(take.Key, take.Result, loginFlowTTL))
	}
	for _, k := range refund {
		ops = append(ops, store.IncrOp(k, time.Hour))
	}
	store.Do(ctx, e.cfg.Store, ops...)
	_ = e.cfg.Store.RemoveMember(ctx, userSessionsKey(s.UserID), s.ID)
}

// loginUser finds the user a code just proved ident for, from the index
// read beside the attempt: a new user with its index when there is none
// (one round trip; of concurrent first logins one creates the index, the
// others read it), else the user it names, read (one round trip), and the
// writes that keep the user and its index alive, for the login's last
// batch (they fail with ErrConflict when either changed meanwhile). An
// index naming a user for whom ident does not count is moved to a new
// user (users.go). ErrConflict: read the index again.
func (e *Engine) loginUser(ctx context.Context, ident Identifier, index *store.Op) (*userRecord, []*store.Op, error) {
	key := identKey(ident.Type, ident.Value)
	var userID string
	switch err := e.decode(index, &userID); {
	case errors.Is(err, store.ErrNotFound):
		// The record first, then the index: an index never names a user
		// that was not written.
		u := e.newCodeUser(ident)
		record, created := store.SetOp(userKey(u.ID), mustJSON(u), e.cfg.UserTTL), store.CreateOp(key, mustJSON(u.ID), e.cfg.UserTTL)
		store.Do(ctx, e.cfg.Store, record, created)
		if record.Err != nil || created.Err != nil {
			_ = e.cfg.Store.Delete(ctx, userKey(u.ID)) // nobody's; it would expire anyway
		}
		switch {
		case record.Err != nil:
			return nil, nil, storeErr(record.Err)
		case errors.Is(created.Err, store.ErrExists):
			return nil, nil, store.ErrConflict
		case created.Err != nil:
			return nil, nil, storeErr(created.Err)
		}
		e.userCreated(u)
		return u, nil, nil
	case err != nil:
		return nil, nil, err
	}
	rawIndex := index.Result
	read := store.GetOp(userKey(userID))
	store.Do(ctx, e.cfg.Store, read)
	var u userRecord
	var held *userIdentifier
	switch err := e.decode(read, &u); {
	case errors.Is(err, store.ErrNotFound):
		// The index outlived its user: a new user takes it.
	case err != nil:
		return nil, nil, err
	default:
		held = u.find(ident)
	}
	if held == nil || !e.proven(held) {
		moved, err := e.moveIndex(ctx, ident, rawIndex)
		if err == nil && read.Err == nil {
			e.logIndexMoved(userID, moved.ID)
		}
		return moved, nil, err
	}
	next := u.clone()
	if held.ProvenBy == provenByCode {
		next.find(ident).ProvenAt = e.now().Unix()
	}
	// The index lives as long as its user; unless it was moved meanwhile.
	return &next, []*store.Op{store.SwapOp(userKey(u.ID), read.Result, mustJSON(next), e.cfg.UserTTL),
		store.SwapOp(key, rawIndex, rawIndex, e.cfg.UserTTL)}, nil
}

// clears are the deletes that forget the failures a success ends; a
// counter that held none costs nothing.
func (g *guessCounters) clears() []*store.Op {
	var ops []*store.Op
	if g.accountSeen > 0 {
		ops = append(ops, store.DeleteOp(g.account))
	}
	if g.clientSeen > 0 {
		ops = append(ops, store.DeleteOp(g.client), store.DeleteOp(failWaitKey(g.client)))
	}
	return ops
}

// firstErr is the error of the first op that failed, or nil.
func firstErr(ops []*store.Op) error {
	for _, op := range ops {
		if op.Err != nil {
			return op.Err
		}
	}
	return nil
}
