package central

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"log/slog"
	"sync"

	"github.com/parkgrid/parkgrid/central/broker"
	"github.com/parkgrid/parkgrid/central/command"
	"github.com/parkgrid/parkgrid/central/session/storesnap"
	"github.com/parkgrid/parkgrid/central/sessionrun"
	"github.com/parkgrid/parkgrid/central/store"
)

// This file wires central's side of the sessions at the edge: the
// commander that signs commands (authorise, stop) with central's key and
// waits for the edges' signed replies, and the runner that moves sessions
// on the snapshots ingest stores (central/sessionrun).

// startCommands connects the commander to the broker (its own client,
// clientID "-cmd") and runs it under wg until ctx ends.
func startCommands(ctx context.Context, wg *sync.WaitGroup, key ed25519.PrivateKey, st store.Store,
	brokerURL, clientID string, login broker.Login, brokerTLS *tls.Config, log *slog.Logger) (*command.Commander, error) {
	var cmd *command.Commander
	conn := command.NewMQTT(command.MQTTConfig{Broker: brokerURL, ClientID: clientID + "-cmd",
		Username: login.Username, Password: login.Password, TLS: brokerTLS, Log: log},
		func(msg []byte) { cmd.HandleReply(msg) })
	cmd, err := command.New(command.Config{Key: key, Directory: command.NewStoreDirectory(st), Publisher: conn, Log: log})
	if err != nil {
		return nil, err
	}
	wg.Go(func() {
		if err := conn.Run(ctx); err != nil {
			log.Error("command connection stopped: commands to the edges fail until restart", "err", err)
		}
	})
	return cmd, nil
}

// runSessions runs the session runner under wg until ctx ends: sessions
// move on the snapshots in st.
func runSessions(ctx context.Context, wg *sync.WaitGroup, svc sessionrun.Sessions, sessions sessionrun.Lister, st store.Store, log *slog.Logger) error {
	r, err := sessionrun.New(sessionrun.Config{Sessions: svc, Lister: sessions, Snapshots: storesnap.New(st), Log: log})
	if err != nil {
		return err
	}
	wg.Go(func() { _ = r.Run(ctx) })
	return nil
}
