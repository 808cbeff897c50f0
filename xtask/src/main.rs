//! `cargo xtask`: the whole program is [`xtask::entry::main`], so that another workspace's
//! xtask can be these lines too.

fn main() {
    xtask::entry::main()
}
