package webhook_test

import (
	"fmt"
	"net/netip"
)

type netipAddr = netip.Addr

func lookup(r map[string]string, host string) ([]netip.Addr, error) {
	a, ok := r[host]
	if !ok {
		return nil, fmt.Errorf("no such host %s", host)
	}
	return []netip.Addr{netip.MustParseAddr(a)}, nil
}
