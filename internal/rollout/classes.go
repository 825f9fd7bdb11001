package rollout

import (
	"strconv"
	"strings"
)

// Class sorts a failed device by what its failure says about the release. The distinction matters
// because a release the devices reject fails everywhere, while a flaky device or link fails here and
// there: the first calls for stopping at once, the second for a budget.
type Class int

// Failure classes.
const (
	// ClassRelease: the device refused the release itself — signature, certificate, vendor, class,
	// version (anti-rollback), manifest format, payload digest or size, precursor. Sending it to more
	// devices cannot succeed.
	ClassRelease Class = iota
	// ClassDevice: the device could not take the update — storage, memory, writing or activating the
	// new image, a system error.
	ClassDevice
	// ClassNetwork: the device could not fetch the manifest or the payload — timeouts, connection
	// failures, unreachable or unresolvable hosts.
	ClassNetwork
	// ClassUnconfirmed: the device reported success, but the device directory did not show it running
	// the new payload within the confirmation timeout (it came back on the old image, or not at all).
	ClassUnconfirmed
	// ClassUnknown: an event code nobody documented, or a nonspecific error.
	ClassUnknown
	// NumClasses is the number of classes.
	NumClasses
)

var classNames = [NumClasses]string{"Release", "Device", "Network", "Unconfirmed", "Unknown"}

// String names the class as the API does.
func (c Class) String() string {
	if c < 0 || c >= NumClasses {
		return "Class(" + strconv.Itoa(int(c)) + ")"
	}
	return classNames[c]
}

// ParseClass reads a class name as String gives it.
func ParseClass(name string) (Class, bool) {
	for c, n := range classNames {
		if n == name {
			return Class(c), true
		}
	}
	return 0, false
}

// ClassCounts counts failed devices by class.
type ClassCounts [NumClasses]int64

// Sum is the number of failed devices of every class.
func (cc ClassCounts) Sum() int64 {
	var n int64
	for _, v := range cc {
		n += v
	}
	return n
}

// Add adds other's counts to cc.
func (cc *ClassCounts) Add(other ClassCounts) {
	for c, v := range other {
		cc[c] += v
	}
}

// ClassOfEvent classifies an Update Service failure event type, such as "UPD4_FAIL_210". The UPD4
// codes are the device update client's result codes (arm_uc_update_result_t): 2xx the manifest (the
// release, unless the network or the device's own state is at fault), 3xx the fetcher (the network),
// 4xx the payload processor and 5xx the writer (the device, unless the payload is corrupt); the
// nonspecific and user-defined codes of each group are ClassUnknown. The UPD2 codes are the older client's
// (the few the service documents). Anything else is ClassUnknown.
func ClassOfEvent(event string) Class {
	event = strings.ToUpper(event)
	if code, ok := strings.CutPrefix(event, "UPD4_FAIL_"); ok {
		return classOfResult(code)
	}
	if code, ok := strings.CutPrefix(event, "UPD2_FAIL_"); ok {
		return classOfLegacy(code)
	}
	return ClassUnknown
}

// classOfResult classifies an update client result code.
func classOfResult(code string) Class {
	n, err := strconv.Atoi(code)
	if err != nil {
		return ClassUnknown
	}
	if c, ok := resultClasses[n]; ok {
		return c
	}
	switch {
	case n >= 300 && n < 400:
		return ClassNetwork
	case n >= 400 && n < 600:
		return ClassDevice
	case n >= 200 && n < 300:
		return ClassRelease
	}
	return ClassUnknown
}

// resultClasses are the codes whose class is not their range's.
var resultClasses = map[int]Class{
	101: ClassNetwork, 102: ClassRelease, 103: ClassDevice,
	201: ClassNetwork, 202: ClassNetwork, 203: ClassNetwork, 204: ClassNetwork, 205: ClassNetwork,
	206: ClassNetwork, 212: ClassDevice, 213: ClassDevice, 223: ClassDevice, 224: ClassDevice,
	225: ClassDevice, 226: ClassDevice, 227: ClassDevice, 230: ClassDevice,
	300: ClassUnknown, 307: ClassRelease, 308: ClassRelease, 309: ClassRelease,
	310: ClassUnknown, 311: ClassUnknown, 312: ClassUnknown, 313: ClassUnknown, 314: ClassUnknown,
	315: ClassDevice, 316: ClassDevice,
	400: ClassUnknown, 401: ClassUnknown, 402: ClassUnknown, 403: ClassUnknown, 404: ClassUnknown,
	405: ClassUnknown, 406: ClassRelease, 407: ClassRelease,
	500: ClassUnknown, 504: ClassRelease, 506: ClassUnknown, 507: ClassUnknown, 508: ClassUnknown,
	509: ClassUnknown, 510: ClassUnknown,
}

// classOfLegacy classifies the older client's documented codes.
func classOfLegacy(code string) Class {
	switch code {
	case "3", "4", "6", "7", "12", "13", "14":
		return ClassRelease // URI, integrity, certificate, signature, asset integrity, asset type
	case "11", "15":
		return ClassNetwork // connection lost, download timed out
	}
	return ClassUnknown
}
