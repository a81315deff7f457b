"""What is wrong with what sets a node up, in Chinese: :data:`SETUP`, the keys of
:mod:`nodes.refusals_setup_en`. Taken in by :mod:`nodes.refusals_zh`."""

from __future__ import annotations

__all__ = ["SETUP"]

SETUP: dict[str, str] = {
    # a topology file (nodes/topology.py): the error, then each problem with its line
    "m.topo_unreadable": "无法读取拓扑文件 {path}：{error}",
    "m.topo_unreadable_hint": "检查路径",
    "m.topo_not_utf8": "{path} 不是 UTF-8 文本",
    "m.topo_not_utf8_hint": "另存为 UTF-8",
    "m.topo_not_toml": "{path} 不是有效的 TOML",
    "m.topo_not_toml_hint": "修正 TOML 语法",
    "m.topo_problem": "{path}：拓扑中有 {count} 个问题",
    "m.topo_problems": "{path}：拓扑中有 {count} 个问题",
    "m.topo_no_node": "节点 {code} 不在拓扑 {name!r} 中",
    "m.topo_at": "{path}:{line}：{what}",
    "m.topo_at_file": "{path}：{what}",
    "m.topo_no_nodes": "没有 [[node]] 表：拓扑须列出每个节点",
    "m.topo_node_not_table": "每个 [[node]] 须为表",
    "m.topo_duplicate": "编码 {code} 重复（首次在第 {first} 行）",
    "m.topo_document_kinds": 'document_kinds（文种）须为汉字列表，如 ["预", "教", "社"]',
    "m.topo_version_bad": "版本须为不小于 0 的整数，而不是 {version!r}",
    "m.topo_unknown_key": "未知的键 {key!r}（可用：{known}）",
    "m.topo_not_string": "{key} 须为字符串",
    "m.topo_no_code": "节点没有编码",
    "m.topo_code_bad": "{code!r} 不是节点编码（六位数字，如 410102；数据中心如 410000-dc）",
    "m.topo_center_code": "数据中心编码 {code} 须为其省级编码加后缀，如 410000-dc",
    "m.topo_code_not_region": "编码 {code} 不在行政区划代码表中（{source}）",
    "m.topo_no_name": "节点 {code} 没有名称",
    "m.topo_role_bad": "节点 {code} 的角色为 {role!r}；应为 {roles} 之一",
    "m.topo_abbreviation_bad": "{code}：简称 {abbreviation!r} 须为 1 至 8 个汉字（如 豫财）",
    "m.topo_former_parents": '{code}：former_parents（原上级）须为编码列表，如 ["410100"]',
    "m.topo_host_key_alone": "{code}：有 host_key 却没有 endpoint",
    "m.topo_bad_port": "{code}：端点 {location!r} 中的端口有误",
    "m.topo_endpoint_form": "{code}：端点须为 sftp://USER@HOST[:PORT]/PATH",
    "m.topo_placeholder": "{code}：{placeholder} 只能出现一次，且只能在用户名中，"
    '如 "sftp://fs-{placeholder}@10.41.0.10:22/"',
    "m.topo_needs_host_key": "{code}：sftp 端点须有 host_key（预先固定，不自动学习）",
    "m.topo_host_key_form": "{code}：host_key 须为 known_hosts 中的 'TYPE BASE64' 形式，"
    "如 'ssh-ed25519 AAAA...'",
    "m.topo_endpoint_kind": "{code}：端点 {location!r} 既不是 sftp:// 也不是文件夹",
    "m.topo_no_province": "没有角色为 'province'（省级）的节点",
    "m.topo_two_provinces": "省级节点不止一个（{first} 和 {other}）",
    "m.topo_two_centers": "数据中心不止一个（{first} 和 {other}）",
    "m.topo_province_parent": "省级节点 {code} 不能有上级",
    "m.topo_no_parent": "{role}节点 {code} 没有上级",
    "m.topo_parent_unknown": "{code} 的上级 {parent} 不存在",
    "m.topo_center_parent": "{code}：数据中心 {parent} 不能作为财政上级",
    "m.topo_center_under": "数据中心 {code} 的上级须为省级",
    "m.topo_cycle": "上级关系成环：{path}",
    # a node's database (nodes/home.py) and settings (nodes/settings.py)
    "m.home_db_newer": "数据库 {url} 的数据库结构版本为 {revision}，比本 fiscalsync 新",
    "m.home_db_taken": "数据库 {url} 中已有 fiscalsync 的数据库结构",
    "m.home_db_taken_hint": "为每个节点提供一个新的空数据库",
    "m.settings_held_days": "{path}：[relay] held_days 须为 1 到 3650",
    # the data wall's logins (nodes/logins.py)
    "m.login_name_bad": "用户名 {name!r} 为空或含有 ':' 或空格",
    "m.login_password_short": "密码少于 {least} 个字符",
    "m.logins_unreadable": "无法读取登录文件 {path}：{error}",
    "m.logins_line_bad": "{path} 第 {number} 行：不是 'name:scrypt$n$r$p$salt$hash' 格式",
    "m.logins_line_bad_hint": "用 'fiscalsync serve-password NAME' 写出各行",
    "m.logins_empty": "登录文件 {path} 中没有用户",
    # the region list (nodes/regions.py)
    "m.regions_unreadable": "无法读取行政区划代码表 {path}：{error}",
    "m.regions_header": "{path}：第一行须为表头 'code<TAB>name'",
    "m.regions_row_bad": "{path}:{number}：应为 'code<TAB>name'，实为 {row!r}",
    # service units (nodes/service.py)
    "m.service_not_absolute": "节点目录和 fiscalsync 可执行文件须为绝对路径",
    "m.service_home_hidden": "节点目录 {home} 在 {hidden} 之下，而服务单元让服务看不到 {hidden}",
    "m.service_home_volatile": "节点目录 {home} 位于 {volatile} 之下，每次重启都会被清空",
    "m.service_home_move_hint": "把节点目录移到 /srv 或 /var/lib 之下（用 fiscalsync restore 或复制）",
    "m.service_user_bad": "{user!r} 不是用户名",
    "m.service_no_folder": "没有文件夹 {folder}",
    "m.service_no_folder_hint": "用 --dir 给出一个已有的文件夹",
    # SFTP accounts of the children (nodes/sftp_accounts.py)
    "m.sftp_no_children": "{code} {name} 没有下级：没有节点登录其 SFTP 端点",
    "m.sftp_no_children_hint": "在有下级的节点（市级、省级）的节点目录中运行 sftp-config",
    "m.sftp_keys_missing": "{folder} 中没有 {codes} 的 SSH 公钥",
    "m.sftp_keys_missing_hint": "向各节点索取 keys/ssh_ed25519.pub（'fiscalsync keys new' 会显示），"
    "以 CODE.pub 保存在该处，或用 --keys 指定文件夹",
    "m.sftp_key_unreadable": "无法读取 SSH 公钥 {path}：{error}",
    "m.sftp_key_bad": "{path} 不是一行 SSH 公钥（'ssh-ed25519 AAAA... comment'）",
    "m.sftp_key_bad_hint": "原样复制下级的 keys/ssh_ed25519.pub",
}
