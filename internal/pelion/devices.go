package pelion

import "context"

const devicesPath = "/v3/devices"

// ListDevices returns one page of the device directory. Filters take the 32-hex id form, e.g.
// Filter{}.In("id", ids...).Eq("device_class", class).
func (c *Client) ListDevices(ctx context.Context, opts ListOptions) (*Page[Device], error) {
	return listPage[Device](ctx, c, OpListDevices, devicesPath+"/", opts)
}

// GetDevice returns one device.
func (c *Client) GetDevice(ctx context.Context, id string) (*Device, error) {
	return getObject[Device](ctx, c, OpGetDevice, devicesPath+"/"+escapeID(id)+"/")
}
