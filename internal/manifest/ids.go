package manifest

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/google/uuid"
)

// VendorIDFromDomain derives the vendor id from the vendor's DNS domain: uuid5(NAMESPACE_DNS, domain),
// as manifest-tool and the SUIT draft recommend.
func VendorIDFromDomain(domain string) (uuid.UUID, error) {
	if !strings.Contains(domain, ".") || strings.IndexFunc(domain, unicode.IsSpace) >= 0 ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return uuid.Nil, fmt.Errorf("vendor domain %q: want a DNS name such as example.com", domain)
	}
	return uuid.NewSHA1(uuid.NameSpaceDNS, []byte(domain)), nil
}

// ClassIDFromModel derives the device class id from the vendor id and a model name:
// uuid5(vendorID, model).
func ClassIDFromModel(vendorID uuid.UUID, model string) (uuid.UUID, error) {
	if strings.TrimSpace(model) == "" {
		return uuid.Nil, fmt.Errorf("model name is empty")
	}
	return uuid.NewSHA1(vendorID, []byte(model)), nil
}
