//! Avatars: a participant's head and hands reach everyone else with its
//! number and the name it gave, and a newcomer; the presenter's too; a
//! flood past the rate, a forged number, a frame copied onto another
//! connection, numbers out of range are dropped; a participant who leaves
//! or is removed takes its avatar away.

use std::time::{Duration, Instant};

use stratum_core::document::{Document, Edit};
use stratum_core::live::avatars::MAX_AVATAR_RATE;
use stratum_core::live::crypto::{self, Header};
use stratum_core::live::{
    Avatar, AvatarPose, Event, Follower, Frame, Host, HostOptions, Key, Kind, Message,
};
use stratum_core::segment::LabelMap;

use crate::document::scan;

fn doc() -> Document {
    let v = scan();
    let (nz, ny, nx) = v.dim();
    let mut d = Document::new(Some(v.clone()), LabelMap::empty((nz, ny, nx), v.geometry)).unwrap();
    d.apply(Edit::AddEmpty).unwrap();
    d
}

fn sealed(key: &Key, sender: u32, seq: u64, e: Event) -> Vec<u8> {
    crypto::seal(key, Header { sender, seq }, &Message::Event(e).to_bytes())
}

fn pose(x: f64) -> AvatarPose {
    AvatarPose {
        position: [x, -350.5, 120.25],
        // A quarter turn about LPS z.
        rotation: [
            0.0,
            0.0,
            std::f64::consts::FRAC_1_SQRT_2,
            std::f64::consts::FRAC_1_SQRT_2,
        ],
    }
}

fn avatar(from: u64, head: Option<AvatarPose>, right: Option<AvatarPose>) -> Event {
    Event::Avatar {
        from,
        name: String::new(),
        head,
        left: None,
        right,
    }
}

/// The avatar events among what is queued for a follower.
fn avatars(f: &mut Follower, rx: &std::sync::mpsc::Receiver<Frame>) -> Vec<Avatar> {
    rx.try_iter()
        .filter_map(|frame| match f.open(&frame).unwrap() {
            Message::Event(e) => Avatar::of(&e),
            _ => None,
        })
        .collect()
}

#[test]
fn an_avatar_reaches_the_others_with_its_senders_number_and_name_and_goes_when_it_leaves() {
    let mut d = doc();
    let host = Host::start(&mut d, &HostOptions::default()).unwrap();
    let k = host.key();
    let (ada, ada_rx) = host.join(Kind::Stratum).unwrap();
    let (bob, bob_rx) = host.join(Kind::Stratum).unwrap();
    let (_, phone_rx) = host.join(Kind::Browser).unwrap();
    let (mut ada_f, mut bob_f, mut phone) = (
        Follower::new(k.clone()),
        Follower::new(k.clone()),
        Follower::new(k.clone()),
    );
    let intro = sealed(
        &k,
        7,
        1,
        Event::Introduce {
            name: "Dr Ada".into(),
        },
    );
    host.upstream(ada, &intro).unwrap();
    for (f, rx) in [
        (&mut ada_f, &ada_rx),
        (&mut bob_f, &bob_rx),
        (&mut phone, &phone_rx),
    ] {
        avatars(f, rx);
    }

    // Ada's head and right hand: Bob and the phone get them, named.
    assert!(
        host.upstream(
            ada,
            &sealed(&k, 7, 2, avatar(0, Some(pose(10.0)), Some(pose(-40.0))))
        )
        .unwrap()
        .is_empty()
    );
    let expected = Avatar {
        from: ada,
        name: "Dr Ada".into(),
        head: Some(pose(10.0)),
        left: None,
        right: Some(pose(-40.0)),
    };
    assert_eq!(avatars(&mut bob_f, &bob_rx), vec![expected.clone()]);
    assert_eq!(bob_f.avatars.get(&ada), Some(&expected));
    assert_eq!(avatars(&mut phone, &phone_rx), vec![expected.clone()]);
    assert_eq!(host.avatars(), vec![expected.clone()]);
    // What a client sends is small: head and both hands in about 300
    // bytes (rounded to 0.1 mm and 1e-4), well under the 1 KiB cap.
    let mine = ada_f.avatar(Some(pose(10.123456789)), Some(pose(1.0)), Some(pose(2.0)));
    assert!(mine.len() < 350, "{} bytes", mine.len());

    // The presenter's, from the app: number 0, the presenter's name.
    host.set_presenter_name("Dr Host");
    host.presenter_avatar(Some(pose(0.0)), None, None).unwrap();
    let got = avatars(&mut bob_f, &bob_rx);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].from, got[0].name.as_str()), (0, "Dr Host"));

    // A newcomer is told where everyone is.
    let (_, late_rx) = host.join(Kind::Stratum).unwrap();
    let mut late = Follower::new(k.clone());
    let told = avatars(&mut late, &late_rx);
    assert!(told.contains(&expected), "{told:?}");
    assert!(late.avatars.contains_key(&0) && late.avatars.contains_key(&ada));

    // Dropped, changing nothing: Ada claiming Bob's number, the frame of
    // hers copied onto Bob's connection, a position out of range, a
    // rotation that is not one, a forged presenter frame, garbage.
    avatars(&mut bob_f, &bob_rx);
    let before = host.avatars();
    let forged = sealed(&k, 7, 3, avatar(bob, Some(pose(1.0)), None));
    assert!(host.upstream(ada, &forged).is_err());
    let copied = sealed(&k, 7, 4, avatar(0, Some(pose(2.0)), None));
    assert!(host.upstream(bob, &copied).is_err());
    let far = sealed(&k, 7, 5, avatar(0, Some(pose(1e7)), None));
    assert!(host.upstream(ada, &far).is_err());
    let mut bad = pose(0.0);
    bad.rotation = [0.0; 4];
    assert!(
        host.upstream(ada, &sealed(&k, 7, 6, avatar(0, Some(bad), None)))
            .is_err()
    );
    assert!(
        host.upstream(ada, &sealed(&k, 0, 7, avatar(0, Some(pose(3.0)), None)))
            .is_err()
    );
    assert!(host.upstream(ada, b"SL\x01\x00garbage").is_err());
    assert_eq!(host.avatars(), before);
    assert!(avatars(&mut bob_f, &bob_rx).is_empty());

    // A rotation a little off unit length is made unit.
    let mut loose = pose(5.0);
    loose.rotation = [0.0, 0.0, 0.0, 1.1];
    host.upstream(ada, &sealed(&k, 7, 8, avatar(0, Some(loose), None)))
        .unwrap();
    let got = avatars(&mut bob_f, &bob_rx);
    assert_eq!(got[0].head.unwrap().rotation, [0.0, 0.0, 0.0, 1.0]);

    // A flood: past the rate, avatars are dropped until the next second.
    let (cat, _cat_rx) = host.join(Kind::Stratum).unwrap();
    let start = Instant::now();
    let accepted = (1..=3 * MAX_AVATAR_RATE as u64)
        .filter(|&seq| {
            host.upstream(
                cat,
                &sealed(&k, 9, seq, avatar(0, Some(pose(seq as f64)), None)),
            )
            .is_ok()
        })
        .count();
    if start.elapsed() < Duration::from_millis(900) {
        assert_eq!(accepted, MAX_AVATAR_RATE as usize);
    }
    assert!(accepted < 3 * MAX_AVATAR_RATE as usize);

    // Ada leaves: her avatar goes, for the host and for the others; so
    // does Cat's when she is removed; nothing for Bob, who sent none.
    avatars(&mut bob_f, &bob_rx);
    host.leave(ada);
    host.remove(cat);
    let gone = avatars(&mut bob_f, &bob_rx);
    assert_eq!(gone.len(), 2, "{gone:?}");
    assert!(gone.iter().all(|a| a.is_empty()));
    assert!(!bob_f.avatars.contains_key(&ada) && !bob_f.avatars.contains_key(&cat));
    assert!(host.avatars().iter().all(|a| a.from == 0));
    host.leave(bob);
    assert_eq!(host.avatars().len(), 1);
    // Everything a follower receives about avatars reads back.
    let e = expected.event();
    assert_eq!(
        Message::from_bytes(&Message::Event(e.clone()).to_bytes()).unwrap(),
        Message::Event(e)
    );
    drop(ada_rx);
}
