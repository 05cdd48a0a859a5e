/*
 * The generated bindings (bindings/plugin.c) refer to this symbol so that the
 * object file wit-bindgen writes with the world's type, plugin_component_type.o,
 * is linked in. This plugin is built without that binary: plugins/build.sh
 * embeds the world from wit/ with `wasm-tools component embed` instead, and
 * this empty function stands in for the object's.
 */
void __component_type_object_force_link_plugin(void) {}
