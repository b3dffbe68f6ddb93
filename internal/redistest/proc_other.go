//go:build !linux

package redistest

import "syscall"

// childAttr: only Linux can tie the child's life to the test binary's; on
// other systems the t.Cleanup kill is the only guard.
func childAttr() *syscall.SysProcAttr { return nil }
