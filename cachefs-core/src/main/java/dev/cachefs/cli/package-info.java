/**
 * The {@code cachefs} command: one picocli command per verb ({@code Main} lists them), the mount
 * daemon's assembly and lifetime ({@code MountCommand}), the training run of the daemon's JVM AOT
 * cache ({@code AotCache}), the control socket the other commands talk to ({@code ControlServer},
 * {@code PinControl}), metrics, and argument parsing helpers.
 *
 * <p>Uses every other package. Used by no other.
 */
package dev.cachefs.cli;
