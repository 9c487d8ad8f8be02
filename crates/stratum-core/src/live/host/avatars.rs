//! The host's side of avatars: a participant's head and hands arrive on
//! its connection (sealed with the follower key) and go to everyone with
//! its number and the name it gave; the presenter's own come from the
//! app. See [`crate::live::avatars`].

use super::{Host, lock};
use crate::base::error::Result;
use crate::live::avatars::{Avatar, PRESENTER};
use crate::live::message::{AvatarPose, Event, Message};

impl Host {
    /// The presenter's head and hands (the app's): everyone sees them.
    /// All `None`: the presenter's avatar goes away.
    pub fn presenter_avatar(
        &self,
        head: Option<AvatarPose>,
        left: Option<AvatarPose>,
        right: Option<AvatarPose>,
    ) -> Result<()> {
        let mut hub = lock(&self.hub);
        let name = hub.people.presenter.clone();
        let event = Event::Avatar {
            from: PRESENTER,
            name: String::new(),
            head,
            left,
            right,
        };
        let event = hub.avatars.accept(PRESENTER, &name, event)?;
        hub.broadcast(&Message::Event(event), false);
        Ok(())
    }

    /// Every participant's avatar now (the presenter's among them).
    pub fn avatars(&self) -> Vec<Avatar> {
        lock(&self.hub).avatars.all()
    }

    /// A participant's avatar (sealed with the follower key, on its own
    /// connection): checked, kept and relayed to everyone with `from` and
    /// `name` set. Anything else is refused and changes nothing.
    pub(super) fn avatar_frame(&self, client: u64, frame: &[u8]) -> Result<Event> {
        let mut hub = lock(&self.hub);
        let event = hub.participant_event(client, frame, "an avatar's", "not an avatar")?;
        let name = hub.people.names.get(&client).cloned().unwrap_or_default();
        let event = hub.avatars.accept(client, &name, event)?;
        hub.broadcast(&Message::Event(event.clone()), false);
        Ok(event)
    }
}
