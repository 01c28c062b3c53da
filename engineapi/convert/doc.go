// Package convert translates between shoal's objects (api, api/types) and
// the Docker Engine API's swarm types (github.com/moby/moby/api/types):
// nodes, services, tasks, and the Swarm block of /info. It is pure: no
// I/O, no clock.
//
// To Docker, every object is complete as the docker CLI reads it (the
// replica count always present, update configs never nil). From Docker,
// a spec field shoal cannot honour is refused with an error naming it
// (fault.Invalid), never dropped: a user who asks for --tty or a secret
// must learn that shoal does not do it.
package convert
