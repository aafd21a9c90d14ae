// Package command carries out central's commands at the edge. A command
// arrives on parkgrid/v1/<site>/down/cmd as a message signed by central's
// Ed25519 key (edge/reading's Command); Handler verifies the signature
// before it decodes anything, refuses a command for another gateway, one
// past its expiry and one it has carried out before, executes the rest
// through an Executor and answers with a Reply signed by the gateway's key,
// published on …/up/reply under the command's id. Session commands
// (authorise, stop) go to an Executor, site commands (set-limit,
// safety-reset) to a Site: the edge's EMS adapter, so a limit from central
// is the same as one from the local EMS API (request id
// "central/<command id>"), and a reset is audited as "<who> via central".
//
// # At most once
//
// Each command's id is written to the done file, fsynced, before the
// command is executed, and its outcome after. A command seen again (a
// redelivery, a replay by anyone who recorded it) is not executed again:
// the stored outcome is sent again. An id whose outcome was not stored (the
// edge died while executing it) is answered with an error, since what
// happened is not known; central asks again with a new id. Entries are kept
// until an hour after their command expires (OpenCommand refuses it from
// the expiry on; the hour covers a clock set back), so the file stays
// small. The done file survives restarts.
//
// On disk (Config.StateFile), JSON written to a temporary file, fsynced and
// renamed:
//
//	{"v":1,"done":{"<id>":{"expires":"…","kind":"stop","state":"done","ok":true,"result":{…}}}}
//
// # What is not answered
//
// A message that is not signed by central, does not decode, or names
// another gateway gets no reply: anyone on the broker may publish on the
// command topic, and a reply to every forgery would let them make the
// gateway talk. Those are logged (at most every 10 s) and counted.
package command
