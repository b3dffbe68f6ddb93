// The words of the Caddyfile's blocks as tables: each `name <value>` line
// read by the kind of its field, so that a block's parser lists its words
// and keeps its code for the few that take more than one kind of value.

package caddystepup

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-stepup/caddy-stepup/appconfig"
)

// A word is one line of a block, read into its field by the field's kind:
// exactly one of str, dur, num, flag, list and parse is set.
type word struct {
	str  *string             // exactly one argument
	dur  *appconfig.Duration // exactly one duration (`d` for days too)
	num  *int                // exactly one positive number
	flag *bool               // no argument: the word sets it
	list *[]string           // one or more arguments, added to the list
	// parse reads a word of its own syntax (a nested block, several
	// values), the dispenser on the word's name.
	parse func() error
	// once refuses the word when its field is set already ("<name> already
	// specified").
	once bool
}

// parseWords reads the lines of the block the dispenser is at into their
// words' fields, refusing a word the table does not hold as an
// "unrecognized <what> option".
func parseWords(d *caddyfile.Dispenser, what string, words map[string]word) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		w, ok := words[name]
		if !ok {
			return d.Errf("unrecognized %s option '%s'", what, name)
		}
		if err := w.read(d, name); err != nil {
			return err
		}
	}
	return nil
}

// read reads the arguments of the word the dispenser is at.
func (w word) read(d *caddyfile.Dispenser, name string) error {
	if w.once && ((w.str != nil && *w.str != "") || (w.dur != nil && *w.dur != 0) || (w.num != nil && *w.num != 0)) {
		return d.Errf("%s already specified", name)
	}
	switch {
	case w.parse != nil:
		return w.parse()
	case w.str != nil:
		return oneArg(d, w.str)
	case w.dur != nil:
		return durationArg(d, w.dur)
	case w.num != nil:
		var v string
		if err := oneArg(d, &v); err != nil {
			return err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return d.Errf("%s: %q is not a positive number", name, v)
		}
		*w.num = n
	case w.flag != nil:
		if d.NextArg() {
			return d.ArgErr()
		}
		*w.flag = true
	case w.list != nil:
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		*w.list = append(*w.list, args...)
	}
	return nil
}

// blockWord is a word that opens a block of its own, read by parse into
// *dst and refused when given twice.
func blockWord[T any](d *caddyfile.Dispenser, name string, dst **T, parse func(*caddyfile.Dispenser) (*T, error)) word {
	return word{parse: func() error {
		if *dst != nil {
			return d.Errf("%s already specified", name)
		}
		v, err := parse(d)
		if err == nil {
			*dst = v
		}
		return err
	}}
}

// bareBlockWord is a word that takes no argument and opens a block, read
// by parse into *dst (a later one replaces it).
func bareBlockWord[T any](d *caddyfile.Dispenser, dst **T, parse func(*caddyfile.Dispenser) (*T, error)) word {
	return word{parse: func() error {
		if d.NextArg() {
			return d.ArgErr()
		}
		v, err := parse(d)
		if err == nil {
			*dst = v
		}
		return err
	}}
}

// oneArg reads exactly one argument into dst.
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// durationArg reads exactly one duration argument into dst.
func durationArg(d *caddyfile.Dispenser, dst *appconfig.Duration) error {
	option := d.Val()
	var v string
	if err := oneArg(d, &v); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil {
		return d.Errf("%s: %v", option, err)
	}
	*dst = appconfig.Duration(dur)
	return nil
}
