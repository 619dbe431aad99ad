//go:build aigw_pkgconfig

package aigw

// With `-tags aigw_pkgconfig` the flags come from the installed aigw.pc:
//
//	PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig go build -tags aigw_pkgconfig ./...
//
// If the prefix is not on the dynamic linker's path, add an rpath:
// CGO_LDFLAGS="-Wl,-rpath,$PREFIX/lib".

/*
#cgo pkg-config: aigw
*/
import "C"
