// referrers-registry: go-containerregistry's registry (pkg/registry) with the OCI 1.1
// referrers API turned on, which `crane registry serve` leaves off — for autopack's tests of
// attachments on a registry that has the API (the CNCF distribution registry has none).
// Blobs on disk under -disk, manifests in memory; listens on -address (loopback only).
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	address := flag.String("address", "127.0.0.1:0", "loopback address to listen on")
	disk := flag.String("disk", "", "directory for blobs (default: memory)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*address)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("referrers-registry: -address %q is not a loopback address", *address)
	}
	options := []registry.Option{registry.WithReferrersSupport(true), registry.Logger(log.New(os.Stderr, "", log.LstdFlags))}
	if *disk != "" {
		options = append(options, registry.WithBlobHandler(registry.NewDiskBlobHandler(*disk)))
	}
	listener, err := net.Listen("tcp", *address)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving on %s", listener.Addr())
	log.Fatal(http.Serve(listener, registry.New(options...)))
}
