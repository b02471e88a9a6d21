"""A StatusNotifierItem watcher and host, for testing Kith's Linux tray headless.

On Linux the app's tray is a StatusNotifierItem: it registers with whoever owns
`org.kde.StatusNotifierWatcher` on the session bus, and a panel (the host) reads the
item's properties and calls its methods over D-Bus. A headless session has no panel,
so this is one: it owns the watcher name, accepts `RegisterStatusNotifierItem`, says a
host is registered, and reads and drives an item the way a panel does: its `ToolTip`,
`Activate` (a left click), and its menu over `com.canonical.dbusmenu` (`GetLayout`,
and the `clicked` event of a menu item). It runs dbus-next in a thread of its own and
offers blocking calls to the test.
"""

import asyncio
import threading

from dbus_next import BusType, Message, MessageType, PropertyAccess, Variant
from dbus_next.aio import MessageBus
from dbus_next.constants import RequestNameReply
from dbus_next.service import ServiceInterface, dbus_property, method, signal

WATCHER_NAME = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
ITEM_INTERFACE = "org.kde.StatusNotifierItem"
ITEM_PATH = "/StatusNotifierItem"
MENU_INTERFACE = "com.canonical.dbusmenu"
PROPERTIES = "org.freedesktop.DBus.Properties"
TIMEOUT = 10.0


class StatusNotifierWatcher(ServiceInterface):
    """The watcher's D-Bus interface: the list of registered items."""

    def __init__(self):
        super().__init__(WATCHER_NAME)
        self.items = []

    @method()
    def RegisterStatusNotifierItem(self, service: "s"):
        if service not in self.items:
            self.items.append(service)
            self.StatusNotifierItemRegistered(service)

    @method()
    def RegisterStatusNotifierHost(self, service: "s"):
        pass

    @dbus_property(access=PropertyAccess.READ)
    def RegisteredStatusNotifierItems(self) -> "as":
        return list(self.items)

    @dbus_property(access=PropertyAccess.READ)
    def IsStatusNotifierHostRegistered(self) -> "b":
        return True

    @dbus_property(access=PropertyAccess.READ)
    def ProtocolVersion(self) -> "i":
        return 0

    @signal()
    def StatusNotifierItemRegistered(self, service) -> "s":
        return service


class DBusCallFailed(Exception):
    pass


class SniHost:
    """Owns the watcher name while started; reads and drives registered items."""

    def __init__(self):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._bus = None
        self._watcher = None

    def _run(self, coroutine, timeout=TIMEOUT):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def start(self):
        """Connects to the session bus and takes the watcher name."""
        self._run(self._start())

    async def _start(self):
        self._bus = await MessageBus(bus_type=BusType.SESSION).connect()
        self._watcher = StatusNotifierWatcher()
        self._bus.export(WATCHER_PATH, self._watcher)
        reply = await self._bus.request_name(WATCHER_NAME)
        if reply != RequestNameReply.PRIMARY_OWNER:
            raise DBusCallFailed(f"cannot own {WATCHER_NAME}: {reply}")

    def stop(self):
        """Leaves the bus (and with it the watcher name) and ends the thread."""
        bus, self._bus = self._bus, None
        if bus:
            self._loop.call_soon_threadsafe(bus.disconnect)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(TIMEOUT)

    def items(self):
        """The bus names of the registered items, oldest first."""
        return list(self._watcher.items) if self._watcher else []

    async def _call(self, destination, path, interface, member, signature="", body=()):
        reply = await self._bus.call(Message(
            destination=destination, path=path, interface=interface, member=member,
            signature=signature, body=list(body)))
        if reply.message_type == MessageType.ERROR:
            raise DBusCallFailed(f"{interface}.{member} on {destination}: {reply.error_name} {reply.body}")
        return reply.body

    def property(self, item, name):
        """A property of the item's org.kde.StatusNotifierItem interface."""
        body = self._run(self._call(item, ITEM_PATH, PROPERTIES, "Get", "ss", [ITEM_INTERFACE, name]))
        return body[0].value

    def tooltip(self):
        """(title, description) of the first item's ToolTip."""
        _icon_name, _pixmaps, title, description = self.property(self.items()[0], "ToolTip")
        return title, description

    def activate(self, x=0, y=0):
        """What a panel does on a left click: Activate(x, y) on the first item."""
        self._run(self._call(self.items()[0], ITEM_PATH, ITEM_INTERFACE, "Activate", "ii", [x, y]))

    def menu_items(self):
        """The first item's menu, flattened: [{"id", "label", "enabled", "toggle-state", ...}]."""
        item = self.items()[0]
        menu_path = self.property(item, "Menu")
        _revision, layout = self._run(self._call(item, menu_path, MENU_INTERFACE, "GetLayout", "iias",
                                                 [0, -1, []]))
        flat = []

        def walk(node):
            item_id, props, children = node
            entry = {key: value.value for key, value in props.items()}
            entry["id"] = item_id
            flat.append(entry)
            for child in children:
                walk(child.value)

        walk(layout)
        return flat[1:]  # the root holds the items and is no item itself

    def menu_item(self, label):
        """The menu entry with exactly this label (mnemonic underscores removed)."""
        for entry in self.menu_items():
            if entry.get("label", "").replace("__", "_") == label:
                return entry
        raise AssertionError(f"no menu item {label!r}")

    def click_menu(self, label):
        """What a panel sends when a menu item is chosen: the dbusmenu `clicked` event.
        Kith rebuilds its exported menu whenever an item changes (the demo's friends
        keep changing status), which renumbers the items; a click on an id from the
        layout before is refused with "id not found", and a panel then reads the new
        layout, as this does, a few times."""
        item = self.items()[0]
        menu_path = self.property(item, "Menu")
        for attempt in range(5):
            entry = self.menu_item(label)
            try:
                self._run(self._call(item, menu_path, MENU_INTERFACE, "Event", "isvu",
                                     [entry["id"], "clicked", Variant("i", 0), 0]))
                return
            except DBusCallFailed as error:
                if "id not found" not in str(error) or attempt == 4:
                    raise
