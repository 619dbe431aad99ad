//go:build !aigw_pkgconfig

package aigw

// By default the package builds against this repository's checkout: the
// header in include/ and the library `make lib` builds in target/release
// (found at run time through an rpath). Extra -L/-I flags given in the
// CGO_CFLAGS / CGO_LDFLAGS environment variables come first, so
// `CGO_LDFLAGS="-L$CARGO_TARGET_DIR/release -Wl,-rpath,..."` points it at
// another build directory.
//
// To build against an installed libaigw instead (found by pkg-config), use
// the aigw_pkgconfig build tag: `go build -tags aigw_pkgconfig`.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -laigw -Wl,-rpath,${SRCDIR}/../../target/release
*/
import "C"
