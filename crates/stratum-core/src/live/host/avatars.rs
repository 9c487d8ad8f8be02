//! The host's side of avatars: a participant's head and hands arrive on
//! its connection (sealed with the follower key) and go to everyone with
//! its number and the name it gave; the presenter's own come from the
//! app. See [`crate::live::avatars`].

use super::{Host, MODEL_SENDER, lock};
use crate::error::{CoreError, Result};
use crate::live::avatars::{Avatar, PRESENTER};
use crate::live::crypto;
use crate::live::message::{AvatarPose, Event, Message};
use crate::live::viewers::MAX_VIEWER_FRAME;

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
        if frame.len() > MAX_VIEWER_FRAME {
            return Err(CoreError::LiveRefused(format!(
                "an avatar's frame of {} bytes (at most {MAX_VIEWER_FRAME})",
                frame.len()
            )));
        }
        let mut hub = lock(&self.hub);
        if hub.people.removed.contains(&client) || !hub.clients.iter().any(|c| c.id == client) {
            return Err(CoreError::LiveRefused(
                "a frame from someone no longer following".into(),
            ));
        }
        let (header, plain) = crypto::open(&hub.key, frame)?;
        if header.sender == 0 || header.sender == MODEL_SENDER {
            return Err(CoreError::LiveRefused(
                "a frame claiming to be the host's".into(),
            ));
        }
        hub.viewers.in_sequence(client, header)?;
        let Message::Event(event) = Message::from_bytes(&plain)? else {
            return Err(CoreError::LiveRefused("not an avatar".into()));
        };
        let name = hub.people.names.get(&client).cloned().unwrap_or_default();
        let event = hub.avatars.accept(client, &name, event)?;
        hub.broadcast(&Message::Event(event.clone()), false);
        Ok(event)
    }
}
